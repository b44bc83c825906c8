"""A Bulk run fanned out by page, carried on in-process: the pages left load here, as a sequential run."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from models import get_engine
from sync.cli import app as cli
from sync.jobs import (
    BulkFanOut,
    fan_out_salesforce,
    finish_salesforce_pages,
    load_salesforce_page,
    resume_run,
)
from sync.pipeline import SUMMARY_KEYS, PagePlan, StreamBusy
from sync.settings import Settings
from tests.conftest import truncate_all
from tests.fakes import salesforce
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.helpers import golden_view, table_rows
from tests.sync.test_salesforce_sync import add_people, an_hour_ago, run_sync

fake = salesforce.fake_salesforce

KNOBS: dict[str, Any] = {
    "salesforce_bulk_threshold": 100,
    "salesforce_bulk_page_size": 200,
    "batch_size": 50,
    "run_lease_seconds": 2,
}


def _session_settings(url: str, org: FakeSalesforce) -> Settings:
    # What a worker has: the org's URL, a token it issued and its CA (no mounted login hosts).
    return Settings(
        database_url=url,
        salesforce_instance_url=org.url,
        salesforce_access_token=org.issue_token(),
        salesforce_ca_bundle=org.ca_path,
        salesforce_bulk_poll_seconds=0.01,
        **KNOBS,
    )


def test_a_fanned_out_run_whose_workers_died_is_finished_by_runs_resume_as_a_sequential_run(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    url = pg_only_url
    add_people(fake, 1000, stamp=an_hour_ago())
    reference = run_sync(url, fake, full=True, **KNOBS)
    clean = golden_view(url)
    truncate_all(get_engine(url))
    fake.clear_request_log()

    settings = _session_settings(url, fake)
    outcome = fan_out_salesforce(settings, full=True, task_id="w" * 32)
    assert isinstance(outcome, BulkFanOut)
    assert outcome.pages == [PagePlan(0, "")]
    sent: list[PagePlan] = []
    # Two pages loaded by "workers" that then die; each handed the next page on first.
    assert load_salesforce_page(settings, outcome.run_id, outcome.pages[0], sent.append) is False
    assert load_salesforce_page(settings, outcome.run_id, sent[0], sent.append) is False
    assert [p.index for p in sent] == [1, 2]

    with pytest.raises(StreamBusy):
        resume_run(settings, outcome.run_id)  # its owner may still be alive
    time.sleep(KNOBS["run_lease_seconds"] + 0.5)
    summary = resume_run(settings, outcome.run_id)

    assert summary.status == "succeeded"
    assert {k: summary.counts.get(k, 0) for k in SUMMARY_KEYS} == {
        k: reference.counts.get(k, 0) for k in SUMMARY_KEYS
    }
    assert golden_view(url) == clean
    pages = table_rows(url, "sync_page", order_by="index")
    assert [(p["index"], p["status"], p["records"]) for p in pages] == [(i, "done", 200) for i in range(5)]
    assert len([r for r in fake.requests_to("/jobs/query") if r.method == "POST"]) == 1
    shown = CliRunner().invoke(cli, ["runs", "show", outcome.run_id, "--json"], env={"DATABASE_URL": url})
    assert [
        (p["index"], p["first_position"], p["records"], p["status"])
        for p in json.loads(shown.stdout)["pages"]
    ] == [(i, 1 + 200 * i, 200, "done") for i in range(5)]
    assert (
        "Bulk result pages"
        in CliRunner().invoke(cli, ["runs", "show", outcome.run_id], env={"DATABASE_URL": url}).stdout
    )


def _orders(url: str) -> list[tuple[Any, ...]]:
    rows = table_rows(url, "customer_order")
    return sorted((r["source_id"], str(r["total"]), r["customer_pk"], str(r["completed_at"])) for r in rows)


def test_orders_fanned_out_by_page_carry_their_bill_to_emails_as_a_sequential_run(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    url = pg_only_url
    people = add_people(fake, 30, stamp=an_hour_ago())
    for i in range(600):
        # Every 50th has no bill-to contact: rejected, no customer to book it on.
        fake.org.add_order(BillToContactId=None if i % 50 == 0 else people[i % 30], TotalAmount=i + 0.5)
    run_sync(url, fake, **KNOBS)
    reference = run_sync(url, fake, stream="orders", full=True, **KNOBS)
    assert reference.counts["rejected"] == 12
    booked = _orders(url)
    truncate_all(get_engine(url))
    run_sync(url, fake, **KNOBS)  # the same customers, in the same order: the same keys

    settings = _session_settings(url, fake)
    outcome = fan_out_salesforce(settings, stream="orders", full=True, task_id="w" * 32)
    assert isinstance(outcome, BulkFanOut)
    queue = list(outcome.pages)
    while queue:
        load_salesforce_page(settings, outcome.run_id, queue.pop(0), queue.append)
    summary = finish_salesforce_pages(settings, outcome.run_id, "w" * 32)

    assert summary.status == "succeeded"
    assert {k: summary.counts.get(k, 0) for k in SUMMARY_KEYS} == {
        k: reference.counts.get(k, 0) for k in SUMMARY_KEYS
    }
    assert _orders(url) == booked
    assert len(table_rows(url, "sync_page", order_by="index")) == 3
