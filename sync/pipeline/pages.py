"""Fanned-out paged runs: result pages found one by one, each loaded on its own checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connectors import FatalSourceError, SourceRecord, redact
from models import SyncPage, SyncRun, utcnow
from models.enums import RunStatus
from sync.load import BatchTarget
from sync.mapping import MappingSpec
from sync.pipeline.chunks import load_slice
from sync.pipeline.lease import Heartbeat, Lease, StreamBusy, acquire, claim, release
from sync.settings import Settings

log = structlog.get_logger("sync.fanout")

_runs = SyncRun.__table__  # type: ignore[attr-defined]
_pages = SyncPage.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PagePlan:
    """A page still to load: its index and locator (the task's arguments)."""

    index: int
    locator: str


@dataclass(slots=True)
class FetchedPage:
    """A page as read from the source: its records, the next page's locator, its highest key."""

    records: list[SourceRecord]
    next_locator: str
    highest: tuple[datetime, str] | None


# Reads the page at a locator, its records numbered from a position: (locator, position) -> page.
PageFetch = Callable[[str, int], FetchedPage]


def open_pages(conn: sa.Connection, run_id: str) -> None:
    """Record the run's first page (the job's results from the start), once."""
    if conn.execute(sa.select(_pages.c.index).where(_pages.c.run_id == run_id)).first() is None:
        conn.execute(sa.insert(_pages).values(_page_row(run_id, 0, "", 1)))


def _page_row(run_id: str, index: int, locator: str, first_position: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "index": index,
        "locator": locator,
        "first_position": first_position,
        "records": 0,
        "status": "pending",
        "deliveries": 0,
        "last": False,
        "updated_at": utcnow(),
    }


def plan_pages(engine: Engine, run_id: str) -> list[PagePlan]:
    """The pages of the run not done yet, for a retry to send again (failed ones pending again).

    Each gets a fresh count of deliveries: the count only guards against a page that keeps
    killing workers.
    """
    with engine.begin() as conn:
        conn.execute(
            sa.update(_pages)
            .where(_pages.c.run_id == run_id, _pages.c.status == "failed")
            .values(status="pending", error=None)
        )
        conn.execute(
            sa.update(_pages).where(_pages.c.run_id == run_id, _pages.c.status != "done").values(deliveries=0)
        )
        rows = conn.execute(
            sa.select(_pages.c.index, _pages.c.locator)
            .where(_pages.c.run_id == run_id, _pages.c.status != "done")
            .order_by(_pages.c.index)
        ).all()
    return [PagePlan(r._mapping["index"], r.locator) for r in rows]


def run_page(
    engine: Engine,
    settings: Settings,
    fetch: PageFetch,
    spec: MappingSpec,
    target: BatchTarget,
    plan: PagePlan,
    token: str,
    send: Callable[[PagePlan], None],
) -> bool:
    """Read one page, hand the next page on (`send`), load this one; True when the run is loaded.

    The next page is recorded and sent before this one is loaded, so the next worker reads
    and loads it meanwhile. A redelivered page reads its page again by the same locator and
    skips the records it had committed; its batches are guarded as a chunk's are.
    """
    run_id, index = target.run_id, plan.index
    with engine.begin() as conn:
        run = conn.execute(sa.select(_runs).where(_runs.c.id == run_id)).mappings().one()
        page = conn.execute(
            sa.update(_pages)
            .where(_pages.c.run_id == run_id, _pages.c["index"] == index)
            .values(
                deliveries=_pages.c.deliveries + 1,
                status=sa.case((_pages.c.status == "done", "done"), else_="running"),
                updated_at=utcnow(),
            )
            .returning(*_pages.c)
        ).one_or_none()
    if page is None:
        raise FatalSourceError(f"run {run_id} has no page {index}")
    if page.locator != plan.locator:
        raise FatalSourceError(f"page {index} of run {run_id} is read from another locator")
    if page.status == "done" or run["status"] not in (RunStatus.RUNNING, RunStatus.QUEUED):
        return False
    if page.deliveries > settings.celery_max_deliveries:
        fail_page(
            engine, run_id, index, f"page {index} was delivered {page.deliveries} times without finishing"
        )
        raise FatalSourceError(f"page {index} of run {run_id} keeps killing its worker; run failed")
    lease = Lease(run["source"], run["stream"], run_id, token, settings.run_lease_seconds)
    holder = acquire(engine, lease)
    if holder is not None:
        raise StreamBusy(holder, f"run {holder} holds {lease.source}/{lease.stream}")
    bound = log.bind(run_id=run_id, page=index)
    if spec.phone_region is None:
        # As in execute_run: the row's country, then the layout's region, then the setting.
        spec = replace(spec, phone_region=settings.default_phone_region)
    # Reading a page of 50,000 records can outlast the lease; batches renew it only later.
    with Heartbeat(engine, lease):
        fetched = fetch(plan.locator, page.first_position)
        _hand_on(engine, run_id, page, fetched, send)
        done = page.records
        bound.info("page.start", resumed_from=done, records=len(fetched.records))
        items = iter(fetched.records[done:])
        loaded = load_slice(engine, settings, _pages, (run_id, index), done, items, target, spec, lease)
    if loaded is None:
        return False
    bound.info("page.done", records=loaded)
    return pages_left(engine, run_id) == 0


def _hand_on(
    engine: Engine, run_id: str, page: sa.Row[Any], fetched: FetchedPage, send: Callable[[PagePlan], None]
) -> None:
    """Record what the page told (its size, highest key, the next page) and send the next page."""
    stamp, sid = fetched.highest if fetched.highest else (None, None)
    following: sa.Row[Any] | None = None
    with engine.begin() as conn:
        conn.execute(
            sa.update(_pages)
            .where(_pages.c.run_id == run_id, _pages.c["index"] == page._mapping["index"])
            .values(
                rows=len(fetched.records),
                last=not fetched.next_locator,
                highest_stamp=stamp,
                highest_id=sid,
            )
        )
        if fetched.next_locator:
            nxt = int(page._mapping["index"]) + 1
            following = conn.execute(
                sa.select(_pages).where(_pages.c.run_id == run_id, _pages.c["index"] == nxt)
            ).first()
            if following is None:
                first = page.first_position + len(fetched.records)
                conn.execute(sa.insert(_pages).values(_page_row(run_id, nxt, fetched.next_locator, first)))
    if not fetched.next_locator:
        return
    # A first delivery sends the next page; a redelivery only when nobody has picked it up
    # yet (its sender may have died between recording and sending it). A message sent twice
    # is harmless: the second delivery finds the page done, or loses each batch's guard.
    if following is None or (following.status == "pending" and following.deliveries == 0):
        send(PagePlan(int(page._mapping["index"]) + 1, fetched.next_locator))


def defer_page(engine: Engine, lease: Lease, index: int) -> None:
    """Hand page `index` of `lease.run_id` back unloaded, for a later delivery to read.

    Called by the delivery that `run_page` counted: the page is pending again and that
    delivery uncounted (deliveries only guard against a page that keeps killing workers);
    the stream stays held for `lease.seconds`, so no other run takes it meanwhile.
    """
    with engine.begin() as conn:
        conn.execute(
            sa.update(_pages)
            .where(_pages.c.run_id == lease.run_id, _pages.c["index"] == index, _pages.c.status == "running")
            .values(deliveries=_pages.c.deliveries - 1, status="pending", updated_at=utcnow())
        )
        claim(conn, lease)


def pages_left(engine: Engine, run_id: str) -> int:
    """Pages not yet loaded; until the page that says it is the last has been read, at least 1."""
    with engine.connect() as conn:
        left, last = conn.execute(
            sa.select(
                sa.func.count().filter(_pages.c.status != "done"),
                sa.func.count().filter(_pages.c.last.is_(True)),
            ).where(_pages.c.run_id == run_id)
        ).one()
    return int(left) if last else max(1, int(left))


def highest_key(conn: sa.Connection, run_id: str) -> tuple[datetime, str] | None:
    """The highest (SystemModstamp, Id) over the run's pages: its watermark once all are loaded."""
    row = conn.execute(
        sa.select(_pages.c.highest_stamp, _pages.c.highest_id)
        .where(_pages.c.run_id == run_id, _pages.c.highest_stamp.is_not(None))
        .order_by(_pages.c.highest_stamp.desc(), _pages.c.highest_id.desc())
        .limit(1)
    ).first()
    return (row.highest_stamp, str(row.highest_id)) if row else None


def fail_page(engine: Engine, run_id: str, index: int, error: str) -> None:
    """A page that cannot load fails its run (the others stop at their next delivery)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(_pages)
            .where(_pages.c.run_id == run_id, _pages.c["index"] == index)
            .values(status="failed", error=redact(error)[:2000], updated_at=utcnow())
        )
        run = conn.execute(sa.select(_runs.c.source, _runs.c.stream).where(_runs.c.id == run_id)).one()
        conn.execute(
            sa.update(_runs)
            .where(_runs.c.id == run_id, _runs.c.status == RunStatus.RUNNING)
            .values(status=RunStatus.FAILED, error=redact(f"page {index}: {error}")[:2000])
        )
        release(conn, Lease(run.source, run.stream, run_id, "", 0))
