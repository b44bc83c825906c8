"""README promises of the Salesforce sync: the watermark stops at the sync's start; custom fields
travel to extraInfo unless `SALESFORCE_CONTACT_FIELDS` maps them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from sync.cli import app
from tests.fakes import salesforce
from tests.fakes.salesforce import FakeSalesforce, RecordedRequest
from tests.sync.helpers import table_rows
from tests.sync.test_salesforce_sync import add_people, an_hour_ago, run_sync, store_contacts, sync_runs

fake = salesforce.fake_salesforce


def test_the_watermark_never_passes_the_syncs_start(pg_only_url: str, fake: FakeSalesforce) -> None:
    url = pg_only_url
    (ann, bob) = add_people(fake, 2, stamp=an_hour_ago())
    assert run_sync(url, fake, salesforce_lookback_seconds=0).counts["created"] == 2
    changed: list[dt.datetime] = []

    def change_while_syncing(request: RecordedRequest) -> bool:
        # The org changes while the sync runs, after its start: before its first page is read.
        if not changed and "LIMIT" in (request.param("q") or ""):
            fake.org.update_contact(ann, FirstName="DuringTheSync")
            fake.org.add_contact(FirstName="New", LastName="Person", Email="new@example.com")
            changed.append(dt.datetime.now(dt.UTC))
        return False  # never a fault: only the side effect

    fake.fail_next(change_while_syncing, "server_error")
    during = run_sync(url, fake, salesforce_lookback_seconds=0)
    fake.clear_faults()
    assert during.status == "succeeded" and changed
    run = sync_runs(url)[-1]
    assert run["id"] == during.run_id
    watermark = dt.datetime.fromisoformat(run["cursor_after"]["watermark"])
    assert watermark <= run["started_at"] < changed[0]
    # What changed after the start is left to the next sync, which reads it.
    assert (during.counts["created"], during.counts["updated"]) == (0, 0)
    assert store_contacts(url)[ann]["firstname"] == "P0"
    after = run_sync(url, fake, salesforce_lookback_seconds=0)
    assert (after.counts["created"], after.counts["updated"]) == (1, 1)
    assert store_contacts(url)[ann]["firstname"] == "DuringTheSync"
    assert {c["email"] for c in store_contacts(url).values()} == {
        "p0@example.com",
        "p1@example.com",
        "new@example.com",
    }
    assert bob in store_contacts(url)
    last = sync_runs(url)[-1]
    assert dt.datetime.fromisoformat(last["cursor_after"]["watermark"]) <= last["started_at"]


def _customer(email: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["customers", "get", "--email", email, "--json"])
    assert result.exit_code == 0, result.output
    customer: dict[str, Any] = json.loads(result.stdout)
    return customer


def _extra(customer: dict[str, Any]) -> dict[str, Any]:
    extra = customer["extraInfo"]
    return json.loads(extra) if isinstance(extra, str) else dict(extra)


def test_custom_fields_land_in_extra_info_and_salesforce_contact_fields_maps_them(
    pg_only_url: str, fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.org.add_contact(
        stamp=an_hour_ago(),
        FirstName="Ann",
        LastName="Lee",
        Email="ann@example.com",
        MailingCity="Oslo",
        Home_Town__c="Bergen",
        Work_Email__c="ann@work.example",
        Shoe_Size__c=38,
        Tier__c="Gold",
    )
    # The direct-session mode needs no login host: the instance URL is the fake itself.
    monkeypatch.setenv("DATABASE_URL", pg_only_url)
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", fake.url)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", fake.issue_token())
    monkeypatch.setenv("SALESFORCE_CA_BUNDLE", str(fake.ca_path))
    monkeypatch.delenv("SALESFORCE_CONTACT_FIELDS", raising=False)

    synced = CliRunner().invoke(app, ["sync", "salesforce", "--full", "--json"])
    assert synced.exit_code == 0, synced.output
    ann = _customer("ann@example.com")
    assert ann["city"] == "Oslo"
    assert _extra(ann) == {
        "Home_Town__c": "Bergen",
        "Work_Email__c": "ann@work.example",
        "Shoe_Size__c": 38,
        "Tier__c": "Gold",
    }

    monkeypatch.setenv(
        "SALESFORCE_CONTACT_FIELDS",
        json.dumps({"city": ["Home_Town__c"], "secondaryEmail": ["Work_Email__c"]}),
    )
    resynced = CliRunner().invoke(app, ["sync", "salesforce", "--full", "--json"])
    assert resynced.exit_code == 0, resynced.output
    assert json.loads(resynced.stdout)["updated"] == 1
    ann = _customer("ann@example.com")
    # Mapped custom fields are documented fields now, and no longer extras.
    assert (ann["city"], ann["secondaryEmail"]) == ("Bergen", "ann@work.example")
    assert _extra(ann) == {"Shoe_Size__c": 38, "Tier__c": "Gold"}
    (source,) = table_rows(pg_only_url, "customer_source")
    payload = source["payload"] if isinstance(source["payload"], dict) else json.loads(source["payload"])
    assert (payload["city"], payload["secondary_email"]) == ("Bergen", "ann@work.example")
