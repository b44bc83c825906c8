"""Salesforce sync end to end against the fake org: full, incremental, deletes, faults, resume."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from decimal import Decimal
from typing import Any

import pytest
import requests
import structlog
from simple_salesforce.exceptions import SalesforceError

from models import get_engine
from sync.jobs import sync_salesforce
from sync.log import configure_logging
from sync.pipeline import RunFailedError, RunSummary
from sync.settings import Settings
from tests.conftest import truncate_all
from tests.fakes import salesforce
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.helpers import assert_counts_add_up, golden_view, table_rows

UTC = dt.UTC


def sf_settings(url: str, fake: FakeSalesforce, **overrides: Any) -> Settings:
    """SOAP login to the fake, with retries and polls fast enough for tests."""
    creds = fake.credentials
    values: dict[str, Any] = {
        "database_url": url,
        "salesforce_username": creds.username,
        "salesforce_password": creds.password,
        "salesforce_security_token": creds.security_token,
        "salesforce_retry_initial_wait_seconds": 0.01,
        "salesforce_retry_max_wait_seconds": 0.05,
        "salesforce_bulk_poll_seconds": 0.01,
        "salesforce_request_timeout_seconds": 10,
        **overrides,
    }
    return Settings(**values)


def run_sync(url: str, fake: FakeSalesforce, **kw: Any) -> RunSummary:
    """One `sync_salesforce` call through a session that reaches the fake."""
    stream = kw.pop("stream", "contacts")
    full = kw.pop("full", False)
    with fake.session() as http:
        return sync_salesforce(sf_settings(url, fake, **kw), stream=stream, full=full, session=http)


def add_people(
    fake: FakeSalesforce,
    count: int,
    *,
    start: int = 0,
    stamp: dt.datetime | None = None,
    step: dt.timedelta | None = None,
) -> list[str]:
    """Contacts P{start}…; with `step`, their stamps spread from `stamp` onwards."""
    return [
        fake.org.add_contact(
            stamp=stamp + (i - start) * step if stamp and step else stamp,
            FirstName=f"P{i}",
            LastName="Person",
            Email=f"p{i}@example.com",
            MailingCity="Oslo",
        )
        for i in range(start, start + count)
    ]


def an_hour_ago() -> dt.datetime:
    return dt.datetime.now(UTC) - dt.timedelta(hours=1)


def _payload(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def store_contacts(url: str) -> dict[str, dict[str, Any]]:
    """Live Salesforce source rows: source id -> the normalised fields stored."""
    return {
        r["source_id"]: _payload(r["payload"])
        for r in table_rows(url, "customer_source")
        if r["source"] == "salesforce" and not r["deleted"]
    }


def org_contacts(fake: FakeSalesforce) -> dict[str, dict[str, Any]]:
    """Live contacts of the fake org, as the store should hold them."""
    return {
        c["Id"]: {
            "email": c["Email"].lower() if c.get("Email") else None,
            "firstname": c.get("FirstName"),
            "lastname": c.get("LastName"),
            "city": c.get("MailingCity"),
        }
        for c in fake.org.contacts()
    }


def assert_store_matches_org(url: str, fake: FakeSalesforce) -> None:
    store, org = store_contacts(url), org_contacts(fake)
    assert set(store) == set(org), (len(set(store) - set(org)), len(set(org) - set(store)))
    for sid, want in org.items():
        got = store[sid]
        assert {k: got.get(k) for k in want} == want, sid
    active = {r["email"] for r in table_rows(url, "customer") if r["active"]}
    assert active == {c["email"] for c in org.values()}


# --- tests --------------------------------------------------------------------------------

fake = salesforce.fake_salesforce


def sync_runs(url: str) -> list[dict[str, Any]]:
    return table_rows(url, "sync_run", order_by="started_at")


def active_customers(url: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in golden_view(url).items() if v["active"]}


def test_full_sync_of_20000_then_incremental_changes_leave_the_store_equal_to_the_org(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    url = pg_only_url
    # Spread over half an hour, so the next sync's look-back reaches none of them.
    ids = add_people(fake, 20_000, stamp=an_hour_ago(), step=dt.timedelta(milliseconds=90))
    first = run_sync(url, fake, batch_size=5000)
    assert first.status == "succeeded"
    assert first.counts["created"] == 20_000
    assert_counts_add_up(first)
    assert len(fake.requests_to("/jobs/query")) >= 1  # above the threshold: Bulk API 2.0
    assert_store_matches_org(url, fake)

    rng = random.Random(7)
    picked = rng.sample(ids, 700)
    for n, sid in enumerate(picked[:500]):
        fake.org.update_contact(sid, FirstName=f"Changed{n}", MailingCity="Bergen")
    for sid in picked[500:]:
        fake.org.delete_contact(sid)
    add_people(fake, 300, start=20_000)
    fake.clear_request_log()

    second = run_sync(url, fake, batch_size=5000)
    assert second.status == "succeeded"
    assert_counts_add_up(second)
    assert (second.counts["created"], second.counts["updated"], second.counts["deleted"]) == (300, 500, 200)
    assert not fake.requests_to("/jobs/query")  # 1,000 changes: REST pages
    assert_store_matches_org(url, fake)
    cursor = sync_runs(url)[-1]["cursor_after"]
    assert set(cursor) >= {"watermark", "last_id"}


@pytest.mark.parametrize("store", ["sqlite_url", "pg_only_url"])
def test_1000_contacts_sharing_one_stamp_across_a_page_boundary_all_arrive(
    store: str, request: pytest.FixtureRequest, fake: FakeSalesforce
) -> None:
    url: str = request.getfixturevalue(store)
    if store == "sqlite_url":
        truncate_all(get_engine(url))
    stamp = an_hour_ago()
    add_people(fake, 150, stamp=stamp - dt.timedelta(seconds=1))
    add_people(fake, 1000, start=150, stamp=stamp)
    add_people(fake, 50, start=1150, stamp=stamp + dt.timedelta(seconds=1))
    summary = run_sync(url, fake, salesforce_page_size=300, batch_size=250)
    assert summary.counts["created"] == 1200
    queries = [
        r.param("q") or "" for r in fake.requests_to("/queryAll") if "LIMIT 300" in (r.param("q") or "")
    ]
    assert len(queries) == 5  # 300, 300, 300, 300, 0: the 1,000 straddle three boundaries
    assert_store_matches_org(url, fake)


def _chaos_until_done(url: str, fake: FakeSalesforce, seed: int, **kw: Any) -> tuple[RunSummary, int]:
    """Sync under seeded faults until a run succeeds; the summary and how many calls broke."""
    fake.chaos(0.35, seed=seed)
    broken = 0
    for _ in range(40):
        try:
            summary = run_sync(url, fake, salesforce_retry_attempts=2, **kw)
        except (requests.RequestException, SalesforceError, RunFailedError):
            broken += 1  # the run is recorded as failed; the next call resumes it
            continue
        if summary.status == "succeeded":
            break
    fake.clear_faults()
    return summary, broken


def test_a_run_broken_by_faults_at_random_points_then_rerun_ends_as_a_clean_run(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    url = pg_only_url
    ids = add_people(fake, 3000, stamp=an_hour_ago())
    knobs = {"salesforce_page_size": 400, "batch_size": 300}

    def change_org(round_: int) -> None:
        for sid in ids[round_ * 100 : round_ * 100 + 60]:
            fake.org.update_contact(sid, FirstName=f"R{round_}")
        for sid in ids[round_ * 100 + 60 : round_ * 100 + 80]:
            fake.org.delete_contact(sid)
        add_people(fake, 40, start=10_000 + round_ * 100)

    first, broken_first = _chaos_until_done(url, fake, seed=11, **knobs)
    change_org(1)
    second, broken_second = _chaos_until_done(url, fake, seed=12, **knobs)
    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert broken_first + broken_second >= 1  # some runs broke and were resumed
    assert sum(1 for r in fake.request_log if r.fault) >= 5
    # Broken runs were carried on, not started afresh: one run per sync.
    assert [r["status"] for r in sync_runs(url)] == ["succeeded", "succeeded"]
    faulted = active_customers(url)
    faulted_sources = store_contacts(url)
    assert_store_matches_org(url, fake)

    truncate_all(get_engine(url))
    assert run_sync(url, fake, **knobs).status == "succeeded"
    assert store_contacts(url) == faulted_sources
    # A clean run never saw the contacts deleted before it, so only live customers compare.
    assert active_customers(url) == faulted


def test_a_quota_stop_pauses_the_run_and_the_next_sync_resumes_it(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    url = pg_only_url
    add_people(fake, 2000, stamp=an_hour_ago())
    queries = itertools.count()
    fake.fail_next(
        lambda r: r.path.endswith("/queryAll/") and "LIMIT" in (r.param("q") or "") and next(queries) == 2,
        "request_limit",
    )
    paused = run_sync(url, fake, salesforce_page_size=500, batch_size=500)
    assert paused.status == "paused"
    assert "REQUEST_LIMIT_EXCEEDED" in (paused.error or "")
    (run,) = sync_runs(url)
    assert run["status"] == "paused" and run["finished_at"] is None
    assert run["checkpoint"]["records"] == 1000
    assert len(store_contacts(url)) == 1000

    resumed = run_sync(url, fake, salesforce_page_size=500, batch_size=500)
    assert resumed.run_id == paused.run_id
    assert resumed.status == "succeeded"
    assert (resumed.counts["read"], resumed.counts["created"]) == (2000, 2000)
    assert_counts_add_up(resumed)
    assert len(sync_runs(url)) == 1
    assert_store_matches_org(url, fake)


def test_the_api_budget_pauses_a_run_and_it_resumes_when_calls_are_left(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    url = pg_only_url
    add_people(fake, 1000, stamp=an_hour_ago())
    # 16 calls left when the first answer counts: a quarter is 4 (describe, count, two pages).
    fake.set_api_usage(used=fake.api_limit - 17)
    paused = run_sync(url, fake, salesforce_page_size=200, batch_size=100)
    assert paused.status == "paused"
    assert "budget" in (paused.error or "")
    assert paused.counts["read"] == 400

    fake.set_api_usage(used=0)
    resumed = run_sync(url, fake, salesforce_page_size=200, batch_size=100)
    assert (resumed.run_id, resumed.status) == (paused.run_id, "succeeded")
    assert resumed.counts["created"] == 1000
    assert_store_matches_org(url, fake)


def test_a_paused_bulk_run_resumes_its_job_instead_of_starting_another(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    url = pg_only_url
    add_people(fake, 2500, stamp=an_hour_ago())
    pages = itertools.count()
    fake.fail_next(lambda r: r.path.endswith("/results") and next(pages) == 2, "request_limit")
    knobs = {"salesforce_bulk_threshold": 1000, "salesforce_bulk_page_size": 1000, "batch_size": 400}
    paused = run_sync(url, fake, **knobs)
    assert paused.status == "paused"
    (run,) = sync_runs(url)
    job = run["checkpoint"]["bulk"]["job_id"]
    assert run["checkpoint"]["records"] == 2000

    resumed = run_sync(url, fake, **knobs)
    assert (resumed.run_id, resumed.status) == (paused.run_id, "succeeded")
    created = [r for r in fake.requests_to("/jobs/query") if r.method == "POST"]
    assert len(created) == 1
    assert all(job in r.path for r in fake.requests_to("/results"))
    assert (resumed.counts["read"], resumed.counts["created"]) == (2500, 2500)
    assert_store_matches_org(url, fake)


def test_hard_deletes_come_from_the_delete_log(pg_only_url: str, fake: FakeSalesforce) -> None:
    url = pg_only_url
    ids = add_people(fake, 300, stamp=an_hour_ago())
    run_sync(url, fake)
    fake.clear_request_log()
    two_minutes_ago = dt.datetime.now(UTC) - dt.timedelta(minutes=2)
    for sid in ids[:30]:
        fake.org.delete_contact(sid, stamp=two_minutes_ago)
    fake.org.empty_recycle_bin()  # queryAll no longer shows them
    summary = run_sync(url, fake)
    assert summary.counts["deleted"] == 30
    assert fake.requests_to("/sobjects/Contact/deleted")
    assert not [r for r in fake.requests_to("/query/") if "ORDER BY Id" in (r.param("q") or "")]
    assert_store_matches_org(url, fake)


def test_when_the_delete_log_no_longer_reaches_back_live_ids_are_reconciled(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    url = pg_only_url
    ids = add_people(fake, 2500, stamp=an_hour_ago())
    run_sync(url, fake)
    fake.clear_request_log()
    for sid in ids[100:140]:
        fake.org.delete_contact(sid, stamp=an_hour_ago())
    fake.org.empty_recycle_bin()
    fake.org.purge_delete_log_before(dt.datetime.now(UTC))
    summary = run_sync(url, fake)
    assert summary.status == "succeeded"
    assert summary.counts["deleted"] == 40
    listings = [r for r in fake.requests_to("/query/") if "ORDER BY Id" in (r.param("q") or "")]
    assert len(listings) == 2  # 2,460 live ids in pages of 2,000
    assert_store_matches_org(url, fake)
    cursor = sync_runs(url)[-1]["cursor_after"]
    assert cursor["deletes_from"]


def test_an_older_systemmodstamp_changes_nothing(pg_only_url: str, fake: FakeSalesforce) -> None:
    url = pg_only_url
    (sid,) = add_people(fake, 1, stamp=an_hour_ago())
    fake.org.update_contact(sid, FirstName="Newer", stamp=an_hour_ago() + dt.timedelta(minutes=30))
    run_sync(url, fake)
    before = (table_rows(url, "customer"), table_rows(url, "customer_source"))
    # The same record as it was earlier (a replay, a slow replica): an older stamp.
    fake.org.update_contact(sid, FirstName="Older", stamp=an_hour_ago() + dt.timedelta(minutes=10))
    replay = run_sync(url, fake, full=True)
    assert (replay.counts["unchanged"], replay.counts["updated"]) == (1, 0)
    assert (table_rows(url, "customer"), table_rows(url, "customer_source")) == before
    assert store_contacts(url)[sid]["firstname"] == "Newer"


def test_orders_map_to_the_orders_kind_with_the_bill_to_contacts_email(
    db_url: str, fake: FakeSalesforce
) -> None:
    (ann, bob) = add_people(fake, 2, stamp=an_hour_ago())
    run_sync(db_url, fake)
    fake.org.add_order(BillToContactId=ann, TotalAmount=19.99, EffectiveDate=dt.date(2026, 3, 1))
    fake.org.add_order(BillToContactId=bob, TotalAmount=5, Status="Activated")
    fake.org.add_order(TotalAmount=1)  # no bill-to contact: no customer to book it on
    summary = run_sync(db_url, fake, stream="orders")
    assert (summary.status, summary.counts["created"], summary.counts["rejected"]) == ("succeeded", 2, 1)
    orders = {Decimal(str(r["total"])): r for r in table_rows(db_url, "customer_order")}
    assert set(orders) == {Decimal("19.99"), Decimal("5")}
    by_email = {r["pk"]: r["email"] for r in table_rows(db_url, "customer")}
    assert by_email[orders[Decimal("19.99")]["customer_pk"]] == "p0@example.com"
    assert str(orders[Decimal("19.99")]["completed_at"])[:10] == "2026-03-01"
    again = run_sync(db_url, fake, stream="orders")
    assert (again.counts["created"], again.counts["updated"]) == (0, 0)


def test_no_secret_reaches_logs_or_run_records(
    pg_only_url: str, fake: FakeSalesforce, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_only_url
    add_people(fake, 50, stamp=an_hour_ago())
    configure_logging("DEBUG", json=True)
    fake.fail_next("/queryAll", "expired_session")
    fake.fail_next("/queryAll", "server_error")
    with structlog.testing.capture_logs() as events:
        run_sync(url, fake)
        fake.fail_next("/queryAll", "request_limit")
        add_people(fake, 5, start=50)
        run_sync(url, fake)
    run_sync(url, fake)  # and once more through the real JSON renderer
    written = capsys.readouterr()
    creds = fake.credentials
    secrets_ = [creds.password, creds.security_token, creds.consumer_secret, *fake._sessions]
    records = json.dumps(
        [table_rows(url, t, order_by="1") for t in ("sync_run", "connector_state", "sync_reject")],
        default=str,
    )
    text = json.dumps(events, default=str) + written.out + written.err
    assert any(e["event"] == "salesforce.relogin" for e in events)
    assert any(e["event"] == "run.paused" for e in events)
    for secret in secrets_:
        assert secret not in text
        assert secret not in records


def test_a_phone_that_does_not_read_tries_mobile_phone_and_the_mailing_country_code(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    # An org with country picklists has MailingCountryCode beside MailingCountry.
    fake.org.add_field("Contact", "MailingCountryCode", "picklist")
    ann = fake.org.add_contact(
        FirstName="Ann", LastName="Lee", Email="ann@example.com", Phone="12", MobilePhone="+49 171 1234567"
    )
    val = fake.org.add_contact(
        FirstName="Val", LastName="Lee", Email="val@example.com", Phone="030 1234567", MailingCountryCode="DE"
    )
    run_sync(pg_only_url, fake)
    stored = store_contacts(pg_only_url)
    assert stored[ann]["phone_number"] == "+491711234567"
    assert (stored[val]["phone_number"], stored[val]["country"]) == ("+49301234567", "DE")
