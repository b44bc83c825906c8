"""A Salesforce Bulk 2.0 run fanned out by result page over real workers ends as a sequential run."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery

from models import get_engine
from sync.jobs import sync_salesforce
from sync.pipeline import SUMMARY_KEYS
from sync.settings import Settings
from tests.conftest import truncate_all
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.helpers import golden_view, table_rows
from tests.worker.conftest import Processes, wait_for

CONTACTS = 2400
PAGE = 300
# The client tries each call once, so a fault on a page reaches the page task, whose retry
# (a new message with a back-off) is what is under test.
KNOBS: dict[str, Any] = {
    "salesforce_bulk_threshold": 100,
    "salesforce_bulk_page_size": PAGE,
    "salesforce_bulk_poll_seconds": 0.05,
    "salesforce_retry_attempts": 1,
    "salesforce_retry_initial_wait_seconds": 0.01,
    "salesforce_retry_max_wait_seconds": 0.05,
    "salesforce_request_timeout_seconds": 20,
    "batch_size": 100,
    # Room for the 429's Retry-After below; the task's own back-off starts at under a second.
    "celery_retry_backoff_max_seconds": 8,
}
RETRY_AFTER = 6
# Short enough that a killed worker's page comes back within seconds; every time limit and
# back-off below it, as Settings insists.
CRASH_PAGE = 800
CRASH_KNOBS: dict[str, Any] = {
    **KNOBS,
    # Pages of many small batches, so the worker can be caught in the middle of one.
    "salesforce_bulk_page_size": CRASH_PAGE,
    "batch_size": 40,
    "celery_visibility_timeout_seconds": 5,
    "celery_task_time_limit_seconds": 4,
    "celery_task_soft_time_limit_seconds": 3,
    "celery_retry_backoff_max_seconds": 2,
}


@pytest.fixture
def org() -> Iterator[FakeSalesforce]:
    """An org whose contacts span several Bulk pages: shared stamps, shared e-mails, bad rows."""
    with FakeSalesforce() as fake:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        for i in range(CONTACTS):
            email = f"p{i}@example.com"
            if i % 97 == 0:
                email = "not an address"  # rejected, with its position
            elif i % 41 == 0 and i % 100 >= 10:
                # Joins the customer of a contact on the same page (pages are whole hundreds):
                # across pages, which of two joined records counts `created` and whether the
                # other counts `updated` or `unchanged` follows the order pages load in.
                email = f"p{i - 10}@example.com"
            fake.org.add_contact(
                # Runs of ten contacts share one stamp, so keyset ties cross page boundaries.
                stamp=start + dt.timedelta(seconds=i // 10),
                FirstName=f"P{i}",
                LastName="Person",
                Email=email,
                MailingCity="Oslo",
            )
        yield fake


def _env(fake: FakeSalesforce, knobs: dict[str, Any]) -> dict[str, Any]:
    # Workers cannot mount the fake's login hosts; they use a session it issued.
    return {
        **knobs,
        "salesforce_instance_url": fake.url,
        "salesforce_access_token": fake.issue_token(),
        "salesforce_ca_bundle": fake.ca_path,
    }


def _reference(
    url: str, fake: FakeSalesforce, knobs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], set[Any], Any]:
    """The sequential run in this process: its counts, store, source rows and watermark."""
    with fake.session() as http:
        summary = sync_salesforce(Settings(database_url=url, **_env(fake, knobs)), full=True, session=http)
    assert summary.status == "succeeded", summary
    found = (
        {k: summary.counts.get(k, 0) for k in SUMMARY_KEYS},
        golden_view(url),
        _sources(url),
        _watermark(url),
    )
    truncate_all(get_engine(url))
    fake.clear_request_log()
    return found


def _sources(url: str) -> set[Any]:
    return {
        (r["source_id"], r["content_hash"], r["modstamp"], r["deleted"])
        for r in table_rows(url, "customer_source")
    }


def _watermark(url: str) -> Any:
    """The keyset watermark saved for the next run (`deletes_from` is each run's own start)."""
    with get_engine(url).connect() as conn:
        cursor = conn.execute(
            sa.text("SELECT cursor FROM connector_state WHERE source = 'salesforce'")
        ).scalar_one()
    cursor = json.loads(cursor) if isinstance(cursor, str) else cursor
    return (cursor["watermark"], cursor["last_id"])


def _status(url: str) -> str | None:
    with get_engine(url).connect() as conn:
        return conn.execute(sa.text("SELECT status FROM sync_run")).scalar()


def _run(url: str) -> dict[str, Any]:
    with get_engine(url).connect() as conn:
        return dict(conn.execute(sa.text("SELECT * FROM sync_run")).mappings().one())


def _pages(url: str) -> list[dict[str, Any]]:
    with get_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(sa.text('SELECT * FROM sync_page ORDER BY "index"')).mappings()]


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _assert_as_reference(url: str, reference: tuple[dict[str, Any], dict[str, Any], set[Any], Any]) -> None:
    counts, store, sources, watermark = reference
    run = _run(url)
    assert run["status"] == "succeeded", run["error"]
    assert {k: run[k] for k in SUMMARY_KEYS} == counts
    assert golden_view(url) == store
    assert _sources(url) == sources
    assert _watermark(url) == watermark
    with get_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM run_lease")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM sync_seen")).scalar() == 0


def test_two_workers_load_a_bulk_job_page_by_page_and_a_faulty_page_retries_alone(
    processes: Processes, client_app: Celery, org: FakeSalesforce
) -> None:
    url = processes.store_url
    reference = _reference(url, org, KNOBS)
    assert reference[0]["read"] == CONTACTS and reference[0]["rejected"] > 0

    # One fault of each transient kind, each on its own page.
    faulty = {
        _locator(PAGE * 2): "rate_limited",
        _locator(PAGE * 4): "server_error",
        _locator(PAGE * 6): "truncated",
    }
    for locator, kind in faulty.items():
        org.fail_next(
            lambda r, loc=locator: r.path.endswith("/results") and r.param("locator") == loc,  # type: ignore[misc]
            kind,
            retry_after=RETRY_AFTER,
        )

    workers = [processes.worker(client_app, **_env(org, KNOBS)) for _ in range(2)]
    client_app.send_task("sync.salesforce.contacts", kwargs={"full": True, "run_id": None})
    wait_for(lambda: _status(url) not in (None, "queued", "running"), 120, workers[0])

    _assert_as_reference(url, reference)
    pages = _pages(url)
    assert len(pages) == CONTACTS // PAGE
    assert all(p["status"] == "done" for p in pages)
    assert sum(p["records"] for p in pages) == CONTACTS
    # One job; each faulty page read again by its own task, every other page read once.
    assert len([r for r in org.requests_to("/jobs/query") if r.method == "POST"]) == 1
    reads: dict[str, int] = {}
    for r in org.requests_to("/results"):
        key = r.param("locator") or ""
        reads[key] = reads.get(key, 0) + 1
    assert {k: v for k, v in reads.items() if v > 1} == dict.fromkeys(faulty, 2)
    assert len(reads) == len(pages)
    # The 429 page was read again no sooner than its Retry-After said (the task's own back-off
    # would have tried within about a second).
    limited = [r.at for r in org.requests_to("/results") if r.param("locator") == _locator(PAGE * 2)]
    assert limited[1] - limited[0] >= RETRY_AFTER - 0.5
    by_locator = {p["locator"]: p["deliveries"] for p in pages}
    assert {k: by_locator[k] for k in faulty} == dict.fromkeys(faulty, 2)
    # Both workers loaded pages.
    loaded = [w.log.read_text(errors="replace").count('"page.start"') for w in workers]
    assert all(n > 0 for n in loaded), loaded


def test_a_worker_killed_mid_page_is_redelivered_and_nothing_is_doubled_or_lost(
    processes: Processes, client_app: Celery, org: FakeSalesforce
) -> None:
    url = processes.store_url
    reference = _reference(url, org, CRASH_KNOBS)

    doomed = processes.worker(client_app, **_env(org, CRASH_KNOBS))
    client_app.send_task("sync.salesforce.contacts", kwargs={"full": True})
    # Kill it once a page has committed some batches but not all of them.
    wait_for(
        lambda: any(
            0 < p["records"] < (p["rows"] or CRASH_PAGE) and p["status"] == "running" for p in _pages(url)
        ),
        90,
        doomed,
    )
    doomed.kill()
    interrupted = _run(url)
    assert interrupted["status"] == "running"
    assert 0 < interrupted["read"] < CONTACTS

    survivor = processes.worker(client_app, **_env(org, CRASH_KNOBS))
    wait_for(lambda: _status(url) not in (None, "queued", "running"), 120, survivor)

    _assert_as_reference(url, reference)
    pages = _pages(url)
    assert all(p["status"] == "done" for p in pages)
    assert max(p["deliveries"] for p in pages) >= 2, "the killed page was delivered again"
    assert len([r for r in org.requests_to("/jobs/query") if r.method == "POST"]) == 1


# Page 0 may wait for the job half the soft time limit (1.5 s) at a time.
SLOW_JOB_KNOBS: dict[str, Any] = {**CRASH_KNOBS, "salesforce_bulk_page_size": PAGE}


def test_page_0_polls_a_slow_bulk_job_again_after_a_countdown_instead_of_pausing_the_run(
    processes: Processes, client_app: Celery, org: FakeSalesforce
) -> None:
    url = processes.store_url
    reference = _reference(url, org, SLOW_JOB_KNOBS)
    # At least 60 polls 0.05 s apart: longer than one try's wait, so page 0 has to come back.
    org.bulk_polls_to_complete = 60

    worker = processes.worker(client_app, **_env(org, SLOW_JOB_KNOBS))
    client_app.send_task("sync.salesforce.contacts", kwargs={"full": True, "run_id": None})
    wait_for(lambda: _status(url) not in (None, "queued", "running"), 120, worker)

    _assert_as_reference(url, reference)
    log = worker.log.read_text(errors="replace")
    assert log.count('"page.job_running"') >= 1
    assert '"run.paused"' not in log
    pages = _pages(url)
    assert len(pages) == CONTACTS // PAGE
    # Waiting was no delivery: page 0 counts the one that loaded it.
    assert [p["deliveries"] for p in pages] == [1] * len(pages)
    assert len([r for r in org.requests_to("/jobs/query") if r.method == "POST"]) == 1


def test_page_0_pauses_the_run_once_the_bulk_wait_is_spent(
    processes: Processes, client_app: Celery, org: FakeSalesforce
) -> None:
    url = processes.store_url
    org.bulk_polls_to_complete = 10**9  # never done
    knobs = {**SLOW_JOB_KNOBS, "salesforce_bulk_wait_seconds": 2.5}  # a try of 1.5 s, then one of 1 s
    worker = processes.worker(client_app, **_env(org, knobs))
    client_app.send_task("sync.salesforce.contacts", kwargs={"full": True, "run_id": None})
    wait_for(lambda: _status(url) not in (None, "queued", "running"), 60, worker)

    run = _run(url)
    assert run["status"] == "paused"
    assert "still InProgress" in run["error"]
    assert worker.log.read_text(errors="replace").count('"page.job_running"') == 1
    # Handed back unread: pending, the paused delivery uncounted, for `runs resume` to send again.
    assert [(p["index"], p["status"], p["deliveries"]) for p in _pages(url)] == [(0, "pending", 0)]
    with get_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM run_lease")).scalar() == 0
