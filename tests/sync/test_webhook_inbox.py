"""The webhook inbox: deliveries taken once, drained through the pipeline, each record imported once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.webhooks import parse_outbound_message, salesforce_record
from connectors.salesforce import ContactsStream
from models import CustomerSource, SyncReject, SyncRun, WebhookDelivery, WebhookInbox, get_engine
from sync.jobs import sync_salesforce
from sync.jobs.salesforce import mapping_spec
from sync.jobs.webhook import (
    FETCHERS,
    REF,
    ClaimLostError,
    InboxItem,
    accept_delivery,
    claim_batch,
    drain_inbox,
    pending_count,
    prune,
    salesforce_contact_spec,
    waiting_streams,
)
from sync.pipeline import RunSummary
from sync.settings import Settings
from tests.fakes import salesforce as salesforce_fakes
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.test_salesforce_sync import run_sync, sf_settings

T0 = datetime(2026, 11, 30, 10, tzinfo=UTC)


def _settings(url: str, **extra: Any) -> Settings:
    return Settings(database_url=url, **extra)


def _contact(cid: str, seconds: int = 0, **fields: Any) -> InboxItem:
    stamp = T0 + timedelta(seconds=seconds)
    return InboxItem(cid, {"Id": cid, "SystemModstamp": stamp.isoformat(), **fields}, stamp)


def _rows(engine: Engine, model: Any) -> list[dict[str, Any]]:
    t = model.__table__
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t)).mappings()]


def test_a_delivery_id_is_taken_once(engine: Engine) -> None:
    first = accept_delivery(engine, "salesforce", "contacts", {"04l1": [_contact("003A")]})
    again = accept_delivery(engine, "salesforce", "contacts", {"04l1": [_contact("003A")], "04l2": []})

    assert (first.deliveries, first.duplicates, first.items) == (1, 0, 1)
    assert (again.deliveries, again.duplicates, again.items) == (1, 1, 0)
    assert len(_rows(engine, WebhookInbox)) == 1


def test_a_drain_imports_each_record_once_and_claims_it(db_url: str, engine: Engine) -> None:
    settings = _settings(db_url, batch_size=2)
    items = [_contact(f"003A{i}", Email=f"p{i}@example.com") for i in range(5)]
    accept_delivery(engine, "salesforce", "contacts", {f"04l{i}": [it] for i, it in enumerate(items)})

    result = drain_inbox(settings, "salesforce", "contacts")
    again = drain_inbox(settings, "salesforce", "contacts")

    assert result.records is not None
    assert (result.records.status, result.records.counts["created"]) == ("succeeded", 5)
    assert again.records is None  # nothing pending: no empty run
    assert {r["run_id"] for r in _rows(engine, WebhookInbox)} == {result.records.run_id}
    assert pending_count(engine, "salesforce", "contacts") == 0
    sources = _rows(engine, CustomerSource)
    assert sorted(r["source_id"] for r in sources) == [f"003A{i}" for i in range(5)]
    (run,) = _rows(engine, SyncRun)
    assert (run["stream"], run["trigger"], run["params"]) == ("webhook", "webhook", {"inbox": "contacts"})


def test_the_newest_stamp_wins_whatever_the_arrival_order(db_url: str, engine: Engine) -> None:
    accept_delivery(engine, "salesforce", "contacts", {"n2": [_contact("003A", 5, LastName="New")]})
    accept_delivery(engine, "salesforce", "contacts", {"n1": [_contact("003A", 0, LastName="Old")]})

    result = drain_inbox(_settings(db_url), "salesforce", "contacts")

    (row,) = _rows(engine, CustomerSource)
    assert row["payload"]["lastname"] == "New"
    assert row["modstamp"] == T0 + timedelta(seconds=5)
    assert result.records is not None and result.records.counts["read"] == 2


def test_a_batch_whose_records_were_claimed_elsewhere_is_rolled_back(engine: Engine) -> None:
    accept_delivery(engine, "salesforce", "contacts", {"n1": [_contact("003A")], "n2": [_contact("003B")]})
    pks = [r["pk"] for r in _rows(engine, WebhookInbox)]
    with engine.begin() as conn:
        claim_batch(conn, "run-one", pks[:1])

    with pytest.raises(ClaimLostError), engine.begin() as conn:
        claim_batch(conn, "run-two", pks)

    assert sorted((r["pk"], r["run_id"]) for r in _rows(engine, WebhookInbox)) == [
        (pks[0], "run-one"),
        (pks[1], None),
    ]


def test_records_of_a_native_source_use_the_native_layout(db_url: str, engine: Engine) -> None:
    item = InboxItem("c-1", {"entitySourceId": "c-1", "email": "A@Example.com", "country": "Germany"})
    accept_delivery(engine, "shopify-eu", "customers", {"sig:1": [item]})

    drain_inbox(_settings(db_url), "shopify-eu", "customers")

    (row,) = _rows(engine, CustomerSource)
    assert (row["source"], row["entity_source"]) == ("shopify-eu", "SHOPIFY")
    assert (row["payload"]["email"], row["payload"]["country"]) == ("a@example.com", "DE")


def test_the_webhook_maps_contacts_exactly_as_the_salesforce_sync_does() -> None:
    settings = Settings(salesforce_contact_fields={"gender": ["Gender__c"]})
    stream = ContactsStream(settings.salesforce, client=object())  # type: ignore[arg-type]
    assert salesforce_contact_spec(settings) == mapping_spec(stream)


def test_prune_forgets_old_delivery_ids_and_imported_rows_only(db_url: str, engine: Engine) -> None:
    accept_delivery(engine, "salesforce", "contacts", {"old": [_contact("003A")], "new": [_contact("003B")]})
    drain_inbox(_settings(db_url), "salesforce", "contacts")
    accept_delivery(engine, "salesforce", "contacts", {"pending": [_contact("003C")]})
    long_ago = datetime.now(UTC) - timedelta(days=30)
    inbox, deliveries = WebhookInbox.__table__, WebhookDelivery.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.update(inbox).values(received_at=long_ago))
        conn.execute(
            sa.update(deliveries).where(deliveries.c.delivery_id != "new").values(received_at=long_ago)
        )

    prune(engine, timedelta(hours=72))

    assert [r["delivery_id"] for r in _rows(engine, WebhookDelivery)] == ["new"]
    # A pending record stays, however old: it has not been imported yet.
    assert [r["source_id"] for r in _rows(engine, WebhookInbox)] == ["003C"]


# --- against the fake Salesforce org ------------------------------------------------------------

fake = salesforce_fakes.fake_salesforce


def _outbound_of(record: dict[str, Any], nid: str) -> str:
    """The Outbound Message notification Salesforce would send for `record` (all its fields)."""
    values = ""
    for name, value in record.items():
        if value is None or isinstance(value, dict):
            continue
        if isinstance(value, datetime):
            text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        values += f"<sf:{name}>{escape(text)}</sf:{name}>"
    return (
        f"<Notification><Id>{nid}</Id>"
        '<sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{values}</sObject></Notification>"
    )


def _envelope(*notifications: str) -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>00D000000000001</OrganizationId>{''.join(notifications)}"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_a_webhook_and_the_api_sync_land_on_one_source_row_with_one_content(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    engine = get_engine(pg_only_url)
    settings = sf_settings(pg_only_url, fake)
    cid = fake.org.add_contact(
        stamp=T0, FirstName="Ann", LastName="Lee", Email="ann@example.com", Phone="+1 415 555 0100"
    )
    (record,) = [c for c in fake.org.contacts() if c["Id"] == cid]
    message = parse_outbound_message(_envelope(_outbound_of(record, "04lA1")))
    columns = [c for cols in salesforce_contact_spec(settings).fields.values() for c in cols]
    sf = salesforce_record(message.notifications[0], columns)
    accept_delivery(
        engine, "salesforce", "contacts", {"04lA1": [InboxItem(sf.source_id, sf.fields, sf.modstamp)]}
    )

    drained = drain_inbox(settings, "salesforce", "contacts")
    synced = run_sync(pg_only_url, fake, full=True)

    assert drained.records is not None and drained.records.counts["created"] == 1
    assert (synced.counts["created"], synced.counts["updated"], synced.counts["unchanged"]) == (0, 0, 1)
    (row,) = _rows(engine, CustomerSource)
    assert (row["source"], row["source_id"], row["modstamp"]) == ("salesforce", cid, T0)


def test_named_ids_start_an_incremental_sync_and_are_marked_with_its_run(
    pg_only_url: str, fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = get_engine(pg_only_url)
    cid = fake.org.add_contact(FirstName="Bo", LastName="Ek", Email="bo@example.com")

    def fetch(settings: Settings, stream: str, task_id: str | None) -> RunSummary:
        with fake.session() as http:
            return sync_salesforce(settings, stream=stream, trigger="webhook", session=http)

    monkeypatch.setitem(FETCHERS, "salesforce", fetch)
    accept_delivery(engine, "salesforce", "contacts", {"sig:1": [InboxItem(cid, kind=REF)]})

    result = drain_inbox(sf_settings(pg_only_url, fake), "salesforce", "contacts")

    assert result.records is None
    assert result.fetch is not None and result.fetch.counts["created"] == 1
    assert [r["run_id"] for r in _rows(engine, WebhookInbox)] == [result.fetch.run_id]
    runs = {r["id"]: r for r in _rows(engine, SyncRun)}
    assert (runs[result.fetch.run_id]["stream"], runs[result.fetch.run_id]["trigger"]) == (
        "contacts",
        "webhook",
    )


def test_waiting_streams_are_those_with_old_rows_not_yet_imported(db_url: str, engine: Engine) -> None:
    accept_delivery(engine, "salesforce", "contacts", {"a": [_contact("003A")]})
    drain_inbox(_settings(db_url), "salesforce", "contacts")
    accept_delivery(engine, "salesforce", "contacts", {"b": [_contact("003B")]})
    accept_delivery(engine, "shop", "customers", {"c": [InboxItem("c-1", {"entitySourceId": "c-1"})]})
    inbox = WebhookInbox.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.update(inbox).values(received_at=datetime.now(UTC) - timedelta(minutes=5)))

    assert waiting_streams(engine, timedelta(minutes=1)) == [
        ("salesforce", "contacts"),
        ("shop", "customers"),
    ]
    assert waiting_streams(engine, timedelta(minutes=10)) == []


def test_a_record_the_load_cannot_take_is_rejected_and_the_rest_drain_now_and_later(
    db_url: str, engine: Engine
) -> None:
    # A birthday of 5,000 digits makes int() raise past the date normaliser: it used to fail
    # the mapping of its whole batch, stay in the inbox, and fail every later drain of the stream.
    bad = InboxItem("c-bad", {"entitySourceId": "c-bad", "email": "bad@example.com", "birthday": "0" * 5000})
    good = [InboxItem(f"c-{i}", {"entitySourceId": f"c-{i}", "email": f"p{i}@example.com"}) for i in range(3)]
    accept_delivery(engine, "shop", "customers", {"sig:1": [good[0], bad, *good[1:]]})

    first = drain_inbox(_settings(db_url), "shop", "customers")
    accept_delivery(engine, "shop", "customers", {"sig:2": [InboxItem("c-9", {"entitySourceId": "c-9"})]})
    later = drain_inbox(_settings(db_url), "shop", "customers")

    assert first.records is not None and first.records.status == "succeeded"
    counts = first.records.counts
    assert (counts["read"], counts["created"], counts["rejected"]) == (4, 3, 1)
    assert later.records is not None and later.records.status == "succeeded"
    assert (later.records.counts["read"], later.records.counts["created"]) == (1, 1)
    assert pending_count(engine, "shop", "customers") == 0
    (reject,) = [r for r in _rows(engine, SyncReject) if r["severity"] == "reject"]
    assert (reject["run_id"], reject["source_id"], reject["reason"]) == (
        first.records.run_id,
        "c-bad",
        "unreadable",
    )
    assert reject["message"] == "the record could not be mapped (ValueError); fix it at the source"
    assert sorted(r["source_id"] for r in _rows(engine, CustomerSource)) == ["c-0", "c-1", "c-2", "c-9"]
