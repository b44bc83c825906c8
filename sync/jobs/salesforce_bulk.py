"""A Salesforce Bulk 2.0 run fanned out by result page: start the job, load a page, close the run."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connectors import PauseRun, StreamContext, TransientSourceError, redact
from connectors.salesforce import BulkJobRunning, SalesforceStream, is_transient
from models import COUNT_FIELDS, RunLease, SyncPage, SyncRun, utcnow
from models.enums import RunStatus
from sync.load import BatchTarget, save_state
from sync.mapping import MappingSpec
from sync.pipeline import (
    FetchedPage,
    Lease,
    PagePlan,
    RunFailedError,
    RunSummary,
    StreamBusy,
    defer_page,
    execute_run,
    fail_page,
    highest_key,
    open_pages,
    pages_left,
    plan_pages,
    run_page,
    stops_recorded,
    take_stream,
)
from sync.settings import Settings

log = structlog.get_logger("sync.fanout")

_runs = SyncRun.__table__  # type: ignore[attr-defined]
_pages = SyncPage.__table__  # type: ignore[attr-defined]
_leases = RunLease.__table__  # type: ignore[attr-defined]


class BulkJobPending(Exception):  # noqa: N818 - a state of the job, not a fault
    """Page 0's Bulk job still runs after this try's wait: poll again in `countdown` seconds.

    `waited` is the seconds page 0 has waited for the job so far, over all its tries.
    """

    def __init__(self, reason: str, waited: float, countdown: float) -> None:
        super().__init__(reason)
        self.waited = waited
        self.countdown = countdown


@dataclass(frozen=True, slots=True)
class BulkFanOut:
    """A run read as a Bulk job page by page: the pages to send now, one task each.

    No page left means every page is loaded: what remains is closing the run.
    """

    run_id: str
    pages: list[PagePlan]


def _summary(run: sa.RowMapping) -> RunSummary:
    return RunSummary(run["id"], run["status"], {k: run[k] for k in COUNT_FIELDS}, run["error"])


def _run(engine: Engine, run_id: str) -> sa.RowMapping:
    with engine.connect() as conn:
        return conn.execute(sa.select(_runs).where(_runs.c.id == run_id)).mappings().one()


def is_paged(run: sa.RowMapping) -> bool:
    """Whether the run was fanned out by Bulk page (its pages under way, or all loaded)."""
    checkpoint = run["checkpoint"] or {}
    return bool(checkpoint.get("pages") or checkpoint.get("paged"))


def fan_out(
    engine: Engine, settings: Settings, reader: SalesforceStream, run_id: str, token: str
) -> BulkFanOut | RunSummary | None:
    """Start the run as a Bulk job read page by page, or carry on the pages of one that was.

    None when the run is not for fanning out (too small for Bulk, or already read in one
    process): the caller runs it in-process, its lease already taken for `token`. A summary
    when the run ends here (skipped, paused).
    """
    run = _run(engine, run_id)
    checkpoint = run["checkpoint"] or {}
    lease = Lease(run["source"], run["stream"], run_id, token, settings.run_lease_seconds)
    if checkpoint.get("pages"):
        take_stream(engine, lease, run, fresh=False)
        return BulkFanOut(run_id, plan_pages(engine, run_id))
    if checkpoint.get("paged"):
        return BulkFanOut(run_id, [])
    if checkpoint.get("records") or checkpoint.get("bulk"):
        return None  # begun in one process: it goes on as it began
    skipped = take_stream(engine, lease, run, fresh=True)
    if skipped is not None:
        return skipped
    ctx = StreamContext(
        cursor=dict(run["cursor_before"] or {}),
        full=run["mode"] == "full",
        started_at=run["started_at"],
    )
    with structlog.contextvars.bound_contextvars(
        run_id=run_id, source=reader.source_name, stream=reader.name
    ):
        try:
            job_id = reader.start_bulk(ctx)
        except PauseRun as exc:
            _stop(engine, run_id, lease, RunStatus.PAUSED, exc.reason)
            return _summary(_run(engine, run_id))
        except Exception as exc:
            explained = reader.explain_failure(exc)
            if explained is None:
                raise
            _stop(engine, run_id, lease, RunStatus.FAILED, explained)
            raise RunFailedError(run_id, redact(explained)) from exc
    if job_id is None:
        return None
    with engine.begin() as conn:
        # Recorded with the first page in one step: a redelivered start finds the job.
        conn.execute(
            sa.update(_runs)
            .where(_runs.c.id == run_id)
            .values(checkpoint={"pages": True, **reader.checkpoint()})
        )
        open_pages(conn, run_id)
    log.info("run.fanned_out", run_id=run_id, job_id=job_id)
    return BulkFanOut(run_id, [PagePlan(0, "")])


def _stop(
    engine: Engine, run_id: str, lease: Lease, status: str, reason: str, page: int | None = None
) -> None:
    """End the run's turn (`status`: paused or failed) and give its stream up, in one transaction.

    `page`: the page whose delivery stopped; it is handed back `pending` and that delivery
    uncounted, so `runs show` lists it as not yet read rather than as read by a worker.
    """
    with engine.begin() as conn:
        conn.execute(sa.update(_runs).where(_runs.c.id == run_id).values(status=status, error=redact(reason)))
        if page is not None:
            conn.execute(
                sa.update(_pages)
                .where(_pages.c.run_id == run_id, _pages.c["index"] == page, _pages.c.status == "running")
                .values(deliveries=_pages.c.deliveries - 1, status="pending", updated_at=utcnow())
            )
        conn.execute(sa.delete(_leases).where(_leases.c.run_id == run_id))


def load_page(
    engine: Engine,
    settings: Settings,
    reader: SalesforceStream,
    spec: MappingSpec,
    run_id: str,
    plan: PagePlan,
    send: Callable[[PagePlan], None],
    token: str | None = None,
    waited: float | None = None,
) -> bool:
    """Load one result page of a fanned-out run (`send` hands the next page on); True when
    it was the last page to be loaded. A quota stop pauses the run.

    The first page waits for the Bulk job, never longer than half the task's soft time limit
    at a time. A page task gives `waited`, the seconds its earlier tries waited: while the
    job runs and SALESFORCE_BULK_WAIT_SECONDS in all are not spent, it raises BulkJobPending
    (the task polls again after a countdown, the stream held meanwhile). Without `waited`
    (in one process), or once they are spent, a job still running pauses the run for the
    next tick.
    """
    run = _run(engine, run_id)
    checkpoint = run["checkpoint"] or {}
    if not checkpoint.get("pages"):
        return False  # closed already, or not paged at all: nothing for this page to do
    job_id = str(checkpoint["bulk"]["job_id"])
    limit = reader.settings.bulk_wait_seconds
    left = limit - (waited or 0.0)
    wait = min(left if left > 0 else limit, settings.celery_task_soft_time_limit_seconds / 2)

    def fetch(locator: str, first_position: int) -> FetchedPage:
        page = reader.bulk_page(job_id, locator, first_position, wait=wait if plan.index == 0 else 0)
        return FetchedPage(page.records, page.next_locator, page.highest)

    target = BatchTarget(
        run_id, reader.source_name, reader.entity_source, settings.priority_of(reader.source_name)
    )
    owner = token or str(run["task_id"] or "")
    with structlog.contextvars.bound_contextvars(
        run_id=run_id, source=reader.source_name, stream=reader.name
    ):
        try:
            return run_page(engine, settings, fetch, spec, target, plan, owner, send)
        except PauseRun as exc:
            if isinstance(exc, BulkJobRunning) and waited is not None and waited + wait < limit:
                # Capped, as every back-off, below the visibility timeout.
                countdown = min(max(exc.retry_after or 0.0, 1.0), settings.celery_retry_backoff_max_seconds)
                held = settings.run_lease_seconds + math.ceil(countdown)
                defer_page(engine, Lease(run["source"], run["stream"], run_id, owner, held), plan.index)
                log.info("page.job_running", page=plan.index, waited=round(waited + wait, 1))
                raise BulkJobPending(exc.reason, waited + wait, countdown) from None
            log.warning("run.paused", reason=exc.reason, page=plan.index)
            _stop(
                engine,
                run_id,
                Lease(run["source"], run["stream"], run_id, owner, 0),
                RunStatus.PAUSED,
                exc.reason,
                page=plan.index,
            )
            return False
        except Exception as exc:
            explained = reader.explain_failure(exc)
            if is_transient(exc):
                # Retried by the page's task, no sooner than the org asked (a 429's Retry-After).
                said = redact(explained) if explained else type(exc).__name__
                raise TransientSourceError(f"salesforce: {said}", reader.client.retry_after) from exc
            if explained is None:
                raise
            # One line for the run (the client's exceptions do not even travel as results);
            # the cause stays chained, so a transient one is still retried.
            raise RunFailedError(run_id, redact(explained)) from exc


def finish(
    engine: Engine, settings: Settings, reader: SalesforceStream, spec: MappingSpec, run_id: str, token: str
) -> RunSummary:
    """Close a fanned-out run once all its pages are loaded (idempotent).

    What is left is what a sequential run reads after its Bulk job: the records changed
    since (normally none) and the deletes, read from the highest key of all pages, which
    becomes the watermark only once the run has completed. The closing takes the stream's
    lease for `token`, so a second close at the same time finds it held and leaves it.
    """
    with engine.begin() as conn:
        run = conn.execute(sa.select(_runs).where(_runs.c.id == run_id).with_for_update()).mappings().one()
        checkpoint = dict(run["checkpoint"] or {})
        if run["status"] != RunStatus.RUNNING or not is_paged(run):
            return _summary(run)
        if checkpoint.get("pages"):
            left = conn.execute(
                sa.select(sa.func.count())
                .select_from(_pages)
                .where(_pages.c.run_id == run_id, _pages.c.status != "done")
            ).scalar_one()
            last = conn.execute(
                sa.select(_pages.c.index).where(_pages.c.run_id == run_id, _pages.c.last.is_(True))
            ).first()
            if left or last is None:
                return _summary(run)
            total = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(_pages.c.records), 0)).where(_pages.c.run_id == run_id)
            ).scalar_one()
            found = highest_key(conn, run_id)
            position = [found[0].isoformat(), found[1]] if found else checkpoint.get("position")
            checkpoint = {
                **{k: v for k, v in checkpoint.items() if k not in ("pages", "bulk")},
                "position": position,
                "records": int(total),
                "read": int(total),
                "paged": True,
            }
            conn.execute(
                sa.update(_runs)
                .where(_runs.c.id == run_id)
                .values(checkpoint=checkpoint, cursor_after=dict(run["cursor_before"] or {}))
            )
            # The pages are all in: the stream's lease passes to this closing task.
            conn.execute(sa.update(_leases).where(_leases.c.run_id == run_id).values(token=token))
    try:
        summary = execute_run(engine, settings, reader, spec, run_id, token=token)
    except StreamBusy as exc:
        # Another task is closing it (or loading its tail) right now.
        return RunSummary(run_id, RunStatus.RUNNING, {}, str(exc))
    if summary.status == RunStatus.SUCCEEDED:
        _save_watermark(engine, run_id, reader)
    return summary


def _save_watermark(engine: Engine, run_id: str, reader: SalesforceStream) -> None:
    # execute_run saves the cursor with each batch; after a Bulk job with no deletes left to
    # read there is none, so the completed run's watermark is saved here.
    cursor = reader.cursor()
    with engine.begin() as conn:
        run = conn.execute(sa.select(_runs.c.source, _runs.c.stream).where(_runs.c.id == run_id)).one()
        conn.execute(sa.update(_runs).where(_runs.c.id == run_id).values(cursor_after=cursor))
        save_state(conn, run.source, reader.name, cursor)


def run_pages_here(
    engine: Engine,
    settings: Settings,
    reader_for: Callable[[], SalesforceStream],
    spec: MappingSpec,
    run_id: str,
    token: str,
) -> RunSummary:
    """Carry a fanned-out run on in this process: its pages not yet loaded, then its close.

    A page that stops on an error fails, and the run with it, as a worker's page task does
    when it gives up; a failure outside any page fails the run alone.
    """
    run = _run(engine, run_id)
    lease = Lease(run["source"], run["stream"], run_id, token, settings.run_lease_seconds)
    take_stream(engine, lease, run, fresh=False)
    with stops_recorded(engine, run_id):
        if (run["checkpoint"] or {}).get("pages"):
            queue: deque[PagePlan] = deque(plan_pages(engine, run_id))
            reader = reader_for()
            while queue:
                page = queue.popleft()
                with stops_recorded(engine, run_id, partial(fail_page, engine, run_id, page.index)):
                    load_page(engine, settings, reader, spec, run_id, page, queue.append, token)
                if _run(engine, run_id)["status"] != RunStatus.RUNNING:
                    return _summary(_run(engine, run_id))
            if pages_left(engine, run_id):
                return _summary(_run(engine, run_id))
        return finish(engine, settings, reader_for(), spec, run_id, token)


def page_counts(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """The run's pages as `runs show` lists them."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_pages.c["index", "first_position", "rows", "records", "status", "deliveries", "error"])
            .where(_pages.c.run_id == run_id)
            .order_by(_pages.c.index)
        ).mappings()
        return [dict(r) for r in rows]
