"""Fanned-out runs: a file cut into byte ranges, each loaded on its own checkpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from connectors import FatalSourceError, ReadError, SourceRecord, SourceWarning, StreamContext, redact
from connectors.csv import ByteRange, CsvRangeStream, split_rows
from models import COUNT_FIELDS, SyncChunk, SyncRun, utcnow
from models.enums import RunStatus
from sync.load import BatchTarget, PlannerStatistics
from sync.mapping import MappingSpec
from sync.pipeline.execute import Loader, close_records, load_mapped, loader_for
from sync.pipeline.lease import Lease, StreamBusy, acquire, release, renew_within
from sync.pipeline.mapper import MappedBatch, map_batch
from sync.pipeline.runs import close_run
from sync.pipeline.skip import Skipped, UnchangedRows, map_clashes, record_skipped
from sync.settings import Settings

log = structlog.get_logger("sync.fanout")

_runs = SyncRun.__table__  # type: ignore[attr-defined]
_chunks = SyncChunk.__table__  # type: ignore[attr-defined]


CsvRangeStreamFactory = Callable[[ByteRange], CsvRangeStream]


class ChunkTakenOver(Exception):  # noqa: N818 - what happened, not a fault
    """Another delivery of the same chunk committed first; this one stops, changing nothing."""


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """A chunk still to load: its index and byte range (the task's arguments)."""

    index: int
    start: int
    end: int


def plan_chunks(engine: Engine, settings: Settings, run_id: str, path: Path) -> list[ChunkPlan]:
    """The run's chunks that are not done, cutting the file first if this run never did.

    Idempotent: a re-delivered import finds the rows its first delivery wrote.
    """
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(_chunks).where(_chunks.c.run_id == run_id).order_by(_chunks.c["index"])
        ).all()
        if not rows:
            spans = split_rows(path, settings.csv_chunk_bytes)
            now = utcnow()
            if spans:
                conn.execute(
                    sa.insert(_chunks),
                    [
                        {
                            "run_id": run_id,
                            "index": i,
                            "start": s.start,
                            "end": s.end,
                            "first_line": s.first_line,
                            "records": 0,
                            "status": "pending",
                            "deliveries": 0,
                            "updated_at": now,
                        }
                        for i, s in enumerate(spans)
                    ],
                )
            conn.execute(
                sa.update(_runs).where(_runs.c.id == run_id).values(checkpoint={"chunks": len(spans)})
            )
            rows = conn.execute(
                sa.select(_chunks).where(_chunks.c.run_id == run_id).order_by(_chunks.c["index"])
            ).all()
        else:
            # A retry gives failed chunks another go, and every unfinished one a fresh count
            # of deliveries (the count only guards against a chunk that keeps killing workers).
            conn.execute(
                sa.update(_chunks)
                .where(_chunks.c.run_id == run_id, _chunks.c.status == "failed")
                .values(status="pending", error=None)
            )
            conn.execute(
                sa.update(_chunks)
                .where(_chunks.c.run_id == run_id, _chunks.c.status != "done")
                .values(deliveries=0)
            )
    return [ChunkPlan(r._mapping["index"], r.start, r.end) for r in rows if r.status != "done"]


def _batches(
    items: Iterator[SourceRecord | ReadError | SourceWarning], size: int
) -> Iterator[list[SourceRecord | ReadError | SourceWarning]]:
    while batch := list(islice(items, size)):
        yield batch


def run_chunk(
    engine: Engine,
    settings: Settings,
    stream_for: CsvRangeStreamFactory,
    spec: MappingSpec,
    run_id: str,
    index: int,
    token: str,
    span: tuple[int, int] | None = None,
) -> bool:
    """Load one chunk from its checkpoint; True when it was the run's last one to finish.

    Each batch commits with the chunk's new position, guarded by the position it started
    from, so two deliveries of one chunk can never both count a batch.
    """
    with engine.begin() as conn:
        run = conn.execute(sa.select(_runs).where(_runs.c.id == run_id)).mappings().one()
        chunk = conn.execute(
            sa.update(_chunks)
            .where(_chunks.c.run_id == run_id, _chunks.c["index"] == index)
            .values(
                deliveries=_chunks.c.deliveries + 1,
                status=sa.case((_chunks.c.status == "done", "done"), else_="running"),
                updated_at=utcnow(),
            )
            .returning(*_chunks.c)
        ).one()
    bound = log.bind(run_id=run_id, chunk=index)
    if span is not None and span != (chunk.start, chunk.end):
        raise FatalSourceError(
            f"chunk {index} of run {run_id} is bytes {chunk.start}-{chunk.end}, not {span}"
        )
    if chunk.status == "done" or run["status"] not in (RunStatus.RUNNING, RunStatus.QUEUED):
        return False
    if chunk.deliveries > settings.celery_max_deliveries:
        fail_chunk(
            engine, run_id, index, f"chunk {index} was delivered {chunk.deliveries} times without finishing"
        )
        raise FatalSourceError(f"chunk {index} of run {run_id} keeps killing its worker; run failed")
    lease = Lease(run["source"], run["stream"], run_id, token, settings.run_lease_seconds)
    holder = acquire(engine, lease)
    if holder is not None:
        raise StreamBusy(holder, f"run {holder} holds {lease.source}/{lease.stream}")
    stream = stream_for(ByteRange(chunk.start, chunk.end, chunk.first_line))
    target = BatchTarget(
        run_id, stream.source_name, stream.entity_source, settings.priority_of(stream.source_name)
    )
    if spec.phone_region is None:
        # As in execute_run: the row's country, then the layout's region, then the setting.
        spec = replace(spec, phone_region=settings.default_phone_region)
    done = chunk.records
    records = stream.records(StreamContext())
    bound.info("chunk.start", resumed_from=done)
    try:
        loaded = load_slice(
            engine,
            settings,
            _chunks,
            (run_id, index),
            done,
            islice(records, done, None),
            target,
            spec,
            lease,
            stream.raw_context(),
        )
    finally:
        close_records(records)  # the chunk's file, now however the load ended
    if loaded is None:
        return False
    bound.info("chunk.done", records=loaded)
    return chunks_left(engine, run_id) == 0


def load_slice(
    engine: Engine,
    settings: Settings,
    table: sa.Table,
    key: tuple[str, int],
    done: int,
    items: Iterator[SourceRecord | ReadError | SourceWarning],
    target: BatchTarget,
    spec: MappingSpec,
    lease: Lease,
    context: str = "",
) -> int | None:
    """Load the rest of a slice of a fanned-out run (a chunk, a page) batch by batch, then mark
    it done: its records done, or None when another delivery of it got there first.

    `table` holds the slice's row, keyed (run id, index), with its `records` committed. Each
    batch commits with the slice's new position, guarded by the position it started from,
    so two deliveries of one slice can never both count a batch. The delivery that loses a
    guard ends quietly (its batch rolled back whole; the slice is the other one's to finish):
    raising would fail a healthy run. `context` is the stream's raw_context(), for the raw-row
    hashes.
    """
    run_id, index = key
    load = loader_for(spec.kind)
    statistics = PlannerStatistics(engine)
    statistics.refresh()
    unchanged = UnchangedRows(engine, target, spec, context)
    bound = log.bind(run_id=run_id, slice=index, table=table.name)
    for batch in _batches(items, settings.batch_size):
        # Rows the store already holds exactly as read are not mapped again.
        split = unchanged.split(batch)
        mapped = map_batch(split.items, spec, split.raw_hashes)
        map_clashes(split.skipped, mapped, spec, set())
        try:
            _commit_slice_batch(
                engine, table, key, done, len(batch), target, load, mapped, split.skipped, lease
            )
        except ChunkTakenOver:
            bound.info("slice.taken_over", records=done)
            return None
        done += len(batch)
        bound.info("slice.batch", records=done)
        statistics.refresh()
    with engine.begin() as conn:
        marked = conn.execute(
            sa.update(table)
            .where(table.c.run_id == run_id, table.c["index"] == index, table.c.records == done)
            .where(table.c.status != "done")
            .values(status="done", updated_at=utcnow())
        ).rowcount
    return done if marked == 1 else None


@retry(
    retry=retry_if_exception_type(sa.exc.IntegrityError),
    stop=stop_after_attempt(3),
    wait=wait_random_exponential(multiplier=0.05, max=1),
    reraise=True,
)
def _commit_slice_batch(
    engine: Engine,
    table: sa.Table,
    key: tuple[str, int],
    done: int,
    size: int,
    target: BatchTarget,
    load: Loader,
    mapped: MappedBatch,
    skipped: Skipped,
    lease: Lease,
) -> None:
    # An IntegrityError means a slice loading beside this one created the same customer
    # first (one e-mail in two slices); the batch is written again and then finds it.
    run_id, index = key
    with engine.begin() as conn:
        moved = conn.execute(
            sa.update(table)
            .where(table.c.run_id == run_id, table.c["index"] == index, table.c.records == done)
            .values(records=done + size, updated_at=utcnow())
        ).rowcount
        if moved != 1:
            raise ChunkTakenOver()
        delta = load_mapped(conn, target, load, mapped)
        delta.update(record_skipped(conn, target, skipped))
        # The lease and the run's counts are rows every slice of the run writes: locked last,
        # just before the commit, so the slices' loads overlap instead of queueing on them.
        # The fencing still holds: a lost lease rolls this batch back before it commits.
        renew_within(conn, lease)
        conn.execute(
            sa.update(_runs)
            .where(_runs.c.id == run_id)
            .values({k: _runs.c[k] + delta.get(k, 0) for k in COUNT_FIELDS})
        )


def chunks_left(engine: Engine, run_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(_chunks)
                .where(_chunks.c.run_id == run_id, _chunks.c.status != "done")
            ).scalar_one()
        )


def fail_chunk(engine: Engine, run_id: str, index: int, error: str) -> None:
    """A chunk that cannot load fails its run (the others stop at their next delivery)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(_chunks)
            .where(_chunks.c.run_id == run_id, _chunks.c["index"] == index)
            .values(status="failed", error=redact(error)[:2000], updated_at=utcnow())
        )
        run = conn.execute(sa.select(_runs.c.source, _runs.c.stream).where(_runs.c.id == run_id)).one()
        conn.execute(
            sa.update(_runs)
            .where(_runs.c.id == run_id, _runs.c.status == RunStatus.RUNNING)
            .values(status=RunStatus.FAILED, error=redact(f"chunk {index}: {error}")[:2000])
        )
        release(conn, Lease(run.source, run.stream, run_id, "", 0))


def finish_chunked_run(engine: Engine, run_id: str) -> str:
    """Close a fanned-out run once every chunk is done; its totals are already summed."""
    with engine.begin() as conn:
        run = conn.execute(sa.select(_runs).where(_runs.c.id == run_id).with_for_update()).mappings().one()
        if run["status"] != RunStatus.RUNNING:
            return str(run["status"])
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(_chunks)
            .where(_chunks.c.run_id == run_id, _chunks.c.status != "done")
        ).scalar_one()
        if left:
            return str(run["status"])
        close_run(conn, run_id, RunStatus.SUCCEEDED, None)
        release(conn, Lease(run["source"], run["stream"], run_id, "", 0))
    log.info("run.finished", run_id=run_id, **{k: run[k] for k in COUNT_FIELDS})
    return RunStatus.SUCCEEDED
