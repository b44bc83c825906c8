"""Executing a run: stream → mapping → loader, batch by batch, each committed with its cursor and checkpoint."""

from __future__ import annotations

import gc
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import islice
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from connectors import (
    FatalSourceError,
    PauseRun,
    Stream,
    StreamContext,
    redact,
)
from models import COUNT_FIELDS, SyncReject, SyncRun, utcnow
from models.enums import RecordOutcome, RunStatus
from models.text import storable
from sync.load import (
    COMMERCE_LOADERS,
    BatchResult,
    BatchTarget,
    PkSet,
    PlannerStatistics,
    apply_priorities,
    load_customer_batch,
    save_state,
)
from sync.mapping import Draft, Issue, MappingSpec, Repeats
from sync.pipeline.lease import Heartbeat, Lease, LeaseLost, renew_within
from sync.pipeline.mapper import MappedBatch, batch_mapper
from sync.pipeline.repeats import Superseded
from sync.pipeline.runs import (
    SUMMARY_KEYS,
    RunFailedError,
    RunSummary,
    finish_run,
    new_run_id,
    note_stopped_run,
    pause_interrupted,
    recorded_error,
    set_run_status,
    take_stream,
)
from sync.pipeline.skip import Read, Skipped, UnchangedRows, map_clashes, record_skipped
from sync.pipeline.writer import OrderedWriter
from sync.settings import Settings

log = structlog.get_logger("sync.pipeline")

Loader = Callable[[sa.Connection, BatchTarget, list[Draft]], BatchResult]
# Called inside a batch's transaction with the positions of the batch's records.
BatchHook = Callable[[sa.Connection, list[int | None]], None]


def loader_for(kind: str) -> Loader:
    """The batch loader of one kind of record."""
    return load_customer_batch if kind == "customers" else COMMERCE_LOADERS[kind]


def _items(
    stream: Stream,
    ctx: StreamContext,
    skip: int,
    unchanged: UnchangedRows,
    size: int,
    superseded: Superseded,
    spec: MappingSpec,
) -> Iterator[Read]:
    """The stream's records after the first `skip`, which a resumed run had committed.

    Read as `lazy_records`: a record the batch finds unchanged by its text is never split.
    It reads the first `skip` again without writing them, noting the ids they read (`recall`)
    and holding again the drafts the run held when it stopped.
    """
    items = stream.lazy_records(ctx)
    while skip > 0:
        batch = list(islice(items, min(size, skip)))
        if not batch:
            break
        skip -= len(batch)
        unchanged.recall(batch)
        superseded.recall(batch, spec, unchanged.hash)
    return items


def execute_run(
    engine: Engine,
    settings: Settings,
    stream: Stream,
    spec: MappingSpec,
    run_id: str,
    *,
    full: bool = False,
    on_batch: Callable[[dict[str, int]], None] | None = None,
    in_batch: BatchHook | None = None,
    token: str | None = None,
    repeats: Repeats | None = None,
) -> RunSummary:
    """Run (or resume) `run_id` to its end, committing each batch with its cursor.

    `in_batch` runs inside each batch's transaction with the positions of its records: a
    stream read from a queue (the webhook inbox) marks them taken there, atomically.

    The run first takes its stream's lease for `token` (a Celery task id, else a new one):
    a fresh run that finds the stream taken ends `skipped`; a run already under way raises
    StreamBusy. Every batch renews the lease inside its own transaction.

    `repeats`: the ids the stream reads more than once and the last line of each (a file's,
    found before the run): a line superseded further down is held until then (`Superseded`).
    """
    # Bound for the whole run, so the connector's own lines (logins, retries, Bulk jobs)
    # carry the run id too, not only the pipeline's.
    with structlog.contextvars.bound_contextvars(
        run_id=run_id, source=stream.source_name, stream=stream.name
    ):
        return _execute_run(engine, settings, stream, spec, run_id, full, on_batch, in_batch, token, repeats)


def _execute_run(
    engine: Engine,
    settings: Settings,
    stream: Stream,
    spec: MappingSpec,
    run_id: str,
    full: bool,
    on_batch: Callable[[dict[str, int]], None] | None,
    in_batch: BatchHook | None,
    token: str | None,
    repeats: Repeats | None,
) -> RunSummary:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
    bound = log.bind(run_id=run_id, source=stream.source_name, stream=stream.name)
    checkpoint = dict(run["checkpoint"] or {})
    done = int(checkpoint.get("records", 0))
    lease = Lease(run["source"], run["stream"], run_id, token or new_run_id(), settings.run_lease_seconds)
    skipped = take_stream(engine, lease, run, fresh=done == 0)
    if skipped is not None:
        bound.info("run.skipped", held_by=skipped.error)
        return skipped
    counts: Counter[str] = Counter({k: run[k] for k in COUNT_FIELDS})
    resuming = done > 0
    cursor = run["cursor_after"] if resuming and not stream.resume_by_skip else run["cursor_before"]
    ctx = StreamContext(
        cursor=dict(cursor or {}),
        checkpoint=checkpoint,
        full=full or run["mode"] == "full",
        started_at=run["started_at"],
    )
    target = BatchTarget(
        run_id,
        stream.source_name,
        _entity_source(stream),
        settings.priority_of(stream.source_name),
        # A stream read again from its top on resume is read in order by this process alone
        # (a file cut into chunks loads through run_chunk): the ids it skips as unchanged are
        # kept here, not in `sync_seen`, and found again from the rows re-read on resume.
        read_pks=PkSet() if stream.resume_by_skip else None,
        # Only a batch writes `sync_seen`, and with its checkpoint: a run that has committed
        # none has no row there yet.
        seen_rows=not (stream.resume_by_skip and done == 0),
    )
    if spec.phone_region is None:
        # National numbers: the row's country first, then the layout's region, then the setting.
        spec = replace(spec, phone_region=settings.default_phone_region)
    load = loader_for(spec.kind)
    # Before the first lookup: a store an earlier run grew may not be analyzed yet.
    statistics = PlannerStatistics(engine)
    statistics.refresh()
    # Only customers: what joins a customer by e-mail cannot be taken back (`Superseded`).
    superseded = Superseded(repeats if spec.kind == "customers" else None)
    unchanged = UnchangedRows(engine, target, spec, stream.raw_context(), superseded.repeats)
    bound.info("run.start", resumed_from=done, kind=spec.kind)
    try:
        # Before anything is weighed: a changed SOURCE_PRIORITY reaches the rows stored before.
        applied = apply_priorities(engine, settings.source_priority, settings.priority_of)
        if applied.conflicts:
            counts.update(_record_priority_conflicts(engine, run_id, applied.conflicts))
        with (
            Heartbeat(engine, lease),
            batch_mapper(settings) as mapper,
            OrderedWriter[_Pending, Counter[str]]() as writer,
            frozen_heap(),
            ExitStack() as stack,
        ):

            def written(outcome: tuple[_Pending, Counter[str]] | None) -> None:
                """Count, log and report a batch once its write has committed."""
                if outcome is None:
                    return
                job, delta = outcome
                counts.update(delta)
                job.settle()
                bound.info("run.batch", records=job.done, **{k: v for k, v in delta.items() if v})
                if on_batch:
                    on_batch(dict(counts))

            def write(job: _Pending) -> Counter[str]:
                """Commit a batch, then analyze what it grew: in the writer's thread, beside the
                reading and mapping of the next batch."""
                delta = _commit_batch(
                    engine, stream.source_name, stream.name, target, load, job, lease, in_batch
                )
                statistics.refresh(_rows_written(target, delta))
                return delta

            items = _items(
                stream,
                ctx,
                done if stream.resume_by_skip else 0,
                unchanged,
                settings.batch_size,
                superseded,
                spec,
            )
            # However the run ends, the stream lets go of its file or connection now, not
            # when the collector gets to a failed run's traceback.
            stack.callback(close_records, items)
            # Inline mapping hands each batch to the writer at once, and reads the next while
            # it is written; with a pool, as many batches map as there are workers.
            pending: deque[_Pending] = deque()
            stopped: BaseException | None = None
            try:
                while True:
                    try:
                        batch = list(islice(items, settings.batch_size))
                    except Exception as exc:
                        # Commit what was already read (a pause, or a source that broke mid-way):
                        # the run resumes from there.
                        stopped, batch = exc, []
                    if batch:
                        done += len(batch)
                        # Rows the store already holds exactly as read are not mapped again.
                        split = unchanged.split(batch)
                        # The batch being written is ahead of this one too: `_map_overlap`.
                        writing = writer.in_flight
                        # The cursor is taken now, while it still describes exactly this batch.
                        pending.append(
                            _Pending(
                                mapper(split.items, spec, split.raw_hashes),
                                done,
                                stream.cursor(),
                                stream.checkpoint(),
                                [item.position for item in batch],
                                split.skipped,
                                [*([writing] if writing is not None else []), *pending],
                            )
                        )
                    while pending and (len(pending) > mapper.in_flight or not batch):
                        job = pending.popleft()
                        # One batch in flight: the one before commits (or fails) before this
                        # one is written, and before the ids it wrote are checked against.
                        written(writer.take())
                        # The last batch of a stream read to its end takes what is still held.
                        final = not batch and not pending and stopped is None
                        _map_overlap(job, spec, superseded, final)
                        writer.submit(job, partial(write, job))
                    if not batch:
                        break
                written(writer.take())
            except BaseException:
                # A write under way ends first and its error wins: written in turn, that batch
                # would have committed (or failed) before anything after it was read.
                written(writer.take())
                raise
            if stopped is not None:
                raise stopped
    except PauseRun as exc:
        bound.warning("run.paused", reason=exc.reason, retry_after=exc.retry_after)
        set_run_status(engine, run_id, RunStatus.PAUSED, exc.reason, lease)
        return RunSummary(run_id, RunStatus.PAUSED, dict(counts), exc.reason)
    except FatalSourceError as exc:
        # Sources quote their error bodies, and those may carry a session id: never kept.
        message = redact(str(exc))
        bound.error("run.failed", error=message)
        finish_run(engine, run_id, RunStatus.FAILED, message, lease)
        exc.run_id = run_id
        note_stopped_run(exc, RunSummary(run_id, RunStatus.FAILED, dict(counts), message))
        raise
    except LeaseLost as exc:
        # Another run owns the stream now; this one stays resumable from its checkpoint.
        bound.error("run.lease_lost", holder=exc.holder)
        set_run_status(engine, run_id, RunStatus.FAILED, str(exc))
        raise
    except Exception as exc:
        explained = stream.explain_failure(exc)
        if explained is not None:
            # The source broke off (unreachable, refusing): resumable like any failed run.
            message = redact(explained)
            bound.error("run.failed", error=message)
            set_run_status(engine, run_id, RunStatus.FAILED, message, lease)
            failed = RunFailedError(run_id, message)
            note_stopped_run(failed, RunSummary(run_id, RunStatus.FAILED, dict(counts), message))
            raise failed from exc
        bound.exception("run.failed", error=type(exc).__name__)
        error = recorded_error(exc)
        set_run_status(engine, run_id, RunStatus.FAILED, error, lease)
        # The CLI names the run in its one line and leaves the traceback to the line above.
        note_stopped_run(exc, RunSummary(run_id, RunStatus.FAILED, dict(counts), redact(error)))
        raise
    except KeyboardInterrupt as exc:
        # The write under way has ended (above); the batch being read is dropped, read again
        # on resume. Paused with its stream given up, the run resumes at once.
        bound.warning("run.interrupted")
        pause_interrupted(engine, run_id, exc)
        raise
    finish_run(engine, run_id, RunStatus.SUCCEEDED, None, lease)
    bound.info("run.finished", **{k: counts[k] for k in SUMMARY_KEYS})
    return RunSummary(run_id, RunStatus.SUCCEEDED, dict(counts))


def _rows_written(target: BatchTarget, delta: Counter[str]) -> int:
    """About how many rows a committed batch added to the loaded tables (their growth).

    Every record read is written (a source row, a tombstone, a `sync_seen` row) except those
    counted unchanged by a run that keeps them in memory (`read_pks`).
    """
    kept = delta[RecordOutcome.UNCHANGED] if target.read_pks is not None else 0
    return max(0, delta["read"] - kept)


def close_records(items: Iterator[Any]) -> None:
    """Close a stream's record iterator if it can be (a generator holding a file open)."""
    close = getattr(items, "close", None)
    if close is not None:
        close()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """While a run reads and writes, the objects that were alive before it are left unscanned.

    Every batch allocates thousands of records, so the collector runs hundreds of times a run,
    and its full collections walked the whole heap of the process (modules, SQLAlchemy's
    metadata) each time: half the CPU of an unchanged re-import. `gc.freeze` moves what exists
    now out of the collector's generations; what the run allocates is collected as before,
    and everything is handed back to the collector when the run ends, however it ends.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _entity_source(stream: Stream) -> str:
    return str(getattr(stream, "entity_source", "CSV"))


@dataclass(slots=True)
class _Pending:
    """A batch in flight: its mapping, and the position, cursor and checkpoint after it."""

    mapped: Future[MappedBatch]
    done: int
    cursor: dict[str, Any]
    checkpoint: dict[str, Any]
    positions: list[int | None]
    skipped: Skipped = field(default_factory=Skipped)
    # Batches read before this one and not yet written when this one was split (the one the
    # writer is committing, and a pool's).
    ahead: list[_Pending] = field(default_factory=list)
    # Once written: the source ids this batch read.
    ids: set[str] = field(default_factory=set)

    def settle(self) -> None:
        """Keep only the ids once written (later batches still in flight check against them)."""
        self.ids = set(map(itemgetter(0), self.skipped.unchanged))
        self.ids.update(d.source_id for d in self.mapped.result().drafts)
        self.ahead = []
        self.skipped.rows = []
        self.skipped.repeats = []


def _map_overlap(job: _Pending, spec: MappingSpec, superseded: Superseded, final: bool) -> None:
    """Map the rows `job` skipped as unchanged that another row of it or a batch ahead also read.

    First the drafts of lines superseded further down are held, and the held ones whose last
    line this batch holds are handed to it (`Superseded.settle`): in file order, here.

    With a pool, a batch is split before the batches ahead of it are written, so a row the
    store held as read may have been rewritten (or marked read) since: mapped now, the loader
    sees what was written and counts and orders it as the inline path would.
    """
    mapped = job.mapped.result()
    superseded.settle(mapped, job.positions, final=final)
    earlier: set[str] = set().union(*(a.ids for a in job.ahead)) if job.ahead else set()
    job.ahead = []
    map_clashes(job.skipped, mapped, spec, earlier)


@retry(
    retry=retry_if_exception_type(sa.exc.IntegrityError),
    stop=stop_after_attempt(3),
    wait=wait_random_exponential(multiplier=0.05, max=1),
    reraise=True,
)
def _commit_batch(
    engine: Engine,
    source: str,
    stream: str,
    target: BatchTarget,
    load: Loader,
    job: _Pending,
    lease: Lease,
    in_batch: BatchHook | None = None,
) -> Counter[str]:
    """Load one mapped batch, with its issues, counts, cursor and checkpoint, atomically.

    An IntegrityError means a concurrent run created the same customer first; the whole
    batch is retried and then finds it.
    """
    mapped = job.mapped.result()
    with engine.begin() as conn:
        # Fencing: a batch commits only while its run still holds the stream.
        renew_within(conn, lease)
        if in_batch is not None:
            in_batch(conn, job.positions)
        delta = load_mapped(conn, target, load, mapped)
        delta.update(record_skipped(conn, target, job.skipped))
        _advance(conn, source, stream, target.run_id, delta, job)
    return delta


def load_mapped(conn: sa.Connection, target: BatchTarget, load: Loader, mapped: MappedBatch) -> Counter[str]:
    """Load a mapped batch and record its issues in `conn`'s transaction; its count deltas."""
    issues = list(mapped.issues)
    delta: Counter[str] = Counter(read=mapped.read)
    delta[RecordOutcome.REJECTED] = sum(1 for sev, _ in issues if sev == "reject")
    delta["warnings"] = sum(1 for sev, _ in issues if sev == "warning")
    result = load(conn, target, mapped.drafts)
    delta.update(result.counts)
    delta[RecordOutcome.DUPLICATE] += mapped.deferred
    delta["conflicts"] = len(result.conflicts)
    issues.extend(("reject", r) for r in result.rejects)
    delta[RecordOutcome.REJECTED] += len(result.rejects)
    issues.extend(("warning", c) for c in result.conflicts)
    delta["warnings"] += len(result.conflicts)
    _write_issues(conn, target.run_id, issues)
    return delta


def _record_priority_conflicts(
    engine: Engine, run_id: str, conflicts: list[tuple[int, str, int]]
) -> Counter[str]:
    """The e-mail conflicts a changed SOURCE_PRIORITY made, as warnings of the run that applied
    it (its `conflicts` and `warnings` counts, and a row each); their count deltas."""
    issues = [
        (
            "warning",
            Issue(
                "email_conflict",
                f"customer {pk} was not given e-mail {email}, which customer {holder} holds, when the"
                " changed SOURCE_PRIORITY was applied; kept on the source row",
                field="email",
            ),
        )
        for pk, email, holder in conflicts
    ]
    delta: Counter[str] = Counter(conflicts=len(issues), warnings=len(issues))
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        _write_issues(conn, run_id, issues)
        conn.execute(
            sa.update(runs).where(runs.c.id == run_id).values({k: runs.c[k] + v for k, v in delta.items()})
        )
    return delta


def _write_issues(conn: sa.Connection, run_id: str, issues: list[tuple[str, Issue]]) -> None:
    if not issues:
        return
    now = utcnow()
    conn.execute(
        sa.insert(SyncReject.__table__),  # type: ignore[attr-defined]
        [
            {
                "run_id": run_id,
                "severity": sev,
                "line": i.position,
                # What a source sent may hold a NUL or a lone surrogate (why the row was
                # refused): kept escaped, so the reject is recorded and the batch goes on.
                "source_id": storable(i.source_id),
                "field": i.field,
                "reason": i.reason,
                "message": storable(i.message),
                "raw": storable(i.raw),
                "created_at": now,
            }
            for sev, i in issues
        ],
    )


def _advance(
    conn: sa.Connection, source: str, stream: str, run_id: str, delta: Counter[str], job: _Pending
) -> None:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(
            {
                **{k: runs.c[k] + delta.get(k, 0) for k in COUNT_FIELDS},
                "checkpoint": {"records": job.done, **job.checkpoint},
                "cursor_after": job.cursor,
            }
        )
    )
    if job.cursor:
        save_state(conn, source, stream, job.cursor)
