"""Mapping a batch, inline or in a pool of worker processes (validation is CPU-bound)."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import current_process, get_context
from typing import Any

import structlog

from connectors import ReadError, RecordText, SourceRecord, SourceWarning
from models.text import unstorable, unstorable_in
from sync.mapping import Draft, Issue, MappingSpec, map_record
from sync.settings import Settings


@dataclass(slots=True)
class MappedBatch:
    """A batch after mapping: how many records it read, its drafts, and its issues."""

    read: int
    drafts: list[Draft]
    issues: list[tuple[str, Issue]]
    # Duplicates counted for drafts held back from or handed to this batch (`Superseded`): the
    # held ones count as duplicates where they are read, and are counted again by the loader
    # of the batch they are handed to.
    deferred: int = 0


Item = SourceRecord | ReadError | SourceWarning
# What a batch is mapped from: items, and records still as their text (a CSV line, split where
# it is mapped: in a mapping process, when there is a pool).
Mappable = Item | RecordText

log = structlog.get_logger("sync.pipeline")


def map_batch(
    batch: Sequence[Mappable], spec: MappingSpec, raw_hashes: list[str | None] | None = None
) -> MappedBatch:
    """Map one batch; a pure function, so it can run in another process.

    `raw_hashes[i]` (sync.mapping.raw) goes onto the draft of `batch[i]`, for its source row.
    """
    drafts: list[Draft] = []
    issues: list[tuple[str, Issue]] = []
    notices = 0
    for i, read in enumerate(batch):
        item: Item = read.record() if type(read) is RecordText else read  # type: ignore[assignment]
        if isinstance(item, SourceWarning):
            # Not a record: a warning of the run, outside `read` so the counts still add up.
            notices += 1
            issues.append(("warning", Issue(item.reason, item.message, item.position, item.source_id)))
            continue
        if isinstance(item, ReadError):
            issues.append(("reject", Issue(item.reason, item.message, item.position, raw=item.raw)))
            continue
        try:
            mapped = map_record(item, spec)
        except Exception as exc:
            # A value no normaliser foresaw must not fail the whole batch (and, for a queue
            # such as the webhook inbox, every later run that reads it again): that one
            # record is rejected with the error's kind, the rest load.
            mapped = Issue(
                "unreadable",
                f"the record could not be mapped ({type(exc).__name__}); fix it at the source",
                item.position,
                item.source_id,
            )
        if isinstance(mapped, Issue):
            issues.append(("reject", mapped))
        else:
            if raw_hashes is not None:
                mapped.raw_hash = raw_hashes[i]
            # Here, so that with a pool the JSON and its hash are made in the mapping process.
            canonical, _ = mapped.encode()
            # The payload is ASCII JSON: a NUL is written `\u0000`, a surrogate `\udXXX` (most
            # of those are pairs: emoji), so the full check runs only on records that may hold one.
            if "\\u0000" in canonical or "\\ud" in canonical or unstorable(mapped.source_id):
                found = unstorable(mapped.source_id) or unstorable_in(mapped.payload())
                if found is not None:
                    issues.append(
                        (
                            "reject",
                            Issue(
                                "unstorable_text",
                                f"the record holds {found}, which the store cannot keep; fix it at the source",
                                item.position,
                                mapped.source_id,
                                # Its line as read (kept escaped, `storable`), so the reject shows where.
                                raw=item.raw,
                            ),
                        )
                    )
                    continue
            drafts.append(mapped)
            issues.extend(("warning", w) for w in mapped.warnings)
    return MappedBatch(len(batch) - notices, drafts, issues)


# Mapping processes when `MAPPING_WORKERS` is unset: one per core, at most this many. On
# 2 cores two beat inline mapping on every phase (bench/README.md), since the importing
# process's own work (reading, hashing, writing) leaves a core's worth of mapping to share.
AUTO_WORKERS_MAX = 4

# A batch with fewer records to map than this (or than a tenth of the run's batch size) maps
# inline, and starts no pool: sending it to a process (pickling it there and back, and the
# pool's start) costs about what mapping it here does.
POOL_MIN_RECORDS = 500


def pool_size(setting: int | None) -> int:
    """How many mapping processes a run starts: `setting` (`MAPPING_WORKERS`), or when unset
    one per usable core up to `AUTO_WORKERS_MAX` (0, inline, on one core).

    A daemonic process may not start children (multiprocessing asserts it), and Celery's
    prefork pool runs tasks in such processes, where the worker's concurrency is the
    parallelism: there it is 0, with a warning when `MAPPING_WORKERS` asked for more.
    """
    if current_process().daemon:
        if setting:
            log.warning("mapping.pool_unavailable", mapping_workers=setting, reason="daemonic process")
        return 0
    if setting is not None:
        return setting
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, AUTO_WORKERS_MAX) if cores > 1 else 0


class BatchMapper:
    """Maps a run's batches, inline or in a pool of `workers` forked processes (none: all inline).

    The pool starts with the second batch that has `pool_min` records to map, or with a first
    batch full of records to map (more are likely to follow, and the importing process has the
    reading and writing to do; a file of exactly one batch forks for nothing). So a run shorter
    than a batch (a webhook, a small file), or one that finds (almost) every row unchanged,
    forks nothing; a batch with fewer records maps inline. `in_flight`: how many mapped batches
    the run may keep ahead of the writer.
    """

    def __init__(self, workers: int, batch_size: int = 5000) -> None:
        self.workers = workers
        self.pool_min = min(POOL_MIN_RECORDS, max(1, batch_size // 10))
        self.batch_size = batch_size
        self._pool: ProcessPoolExecutor | None = None
        self._split: Callable[[int, str], SourceRecord | ReadError] | None = None
        self._batches = 0

    @property
    def in_flight(self) -> int:
        return self.workers if self._pool is not None else 0

    def __call__(
        self, batch: Sequence[Mappable], spec: MappingSpec, raw_hashes: list[str | None] | None = None
    ) -> Future[MappedBatch]:
        # Only batches with enough records to map count: a re-import that finds every row
        # unchanged maps nothing, and one that finds 1 % changed maps some 50 rows a batch
        # (10 ms inline), less than a process pool costs to start and feed.
        records = sum(type(item) in _RECORDS for item in batch)
        pooled = records >= self.pool_min
        self._batches += pooled
        full = records >= self.batch_size
        if self.workers > 0 and (self._batches > 1 or full) and self._pool is None:
            # The stream's splitting goes to the processes as they fork (never pickled), so
            # lines are sent as their text and split there, not by the importing process.
            self._split = next((item.split for item in batch if type(item) is RecordText), None)
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("fork"),
                initializer=_start_mapping_process,
                initargs=(os.getpid(), self._split),
            )
        if self._pool is not None and pooled:
            return self._pool.submit(_map_packed, pack(batch, self._split), spec, raw_hashes)
        future: Future[MappedBatch] = Future()
        future.set_result(map_batch(batch, spec, raw_hashes))
        return future

    def close(self) -> None:
        """Stop the pool's processes, once the batches sent to them are mapped."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


# prctl(2): the signal a process gets when the thread that forked it ends.
_PR_SET_PDEATHSIG = 1


# The stream's splitting of a line's text, in a mapping process (`_start_mapping_process`).
_split_here: Callable[[int, str], SourceRecord | ReadError] | None = None


def _start_mapping_process(parent: int, split: Callable[[int, str], SourceRecord | ReadError] | None) -> None:
    """First thing in each mapping process: die with the importing process; leave Ctrl-C to it;
    keep the stream's `split`, for the lines `pack` sends as their text.

    Forked, a mapping process holds copies of the importer's sockets, its database sessions
    among them: outliving an importer killed with SIGKILL, it would keep that session open,
    with the transaction and the run lease's row lock a resume then waits on for ever.
    """
    global _split_here
    _split_here = split
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        watched = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0
    except (OSError, AttributeError):  # not Linux: no prctl
        watched = False
    if os.getppid() != parent:  # the importer died before the line above took effect
        os._exit(1)
    if not watched:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


@contextmanager
def batch_mapper(settings: Settings) -> Iterator[BatchMapper]:
    """A run's `BatchMapper`, sized by `pool_size(settings.mapping_workers)`, closed on exit."""
    mapper = BatchMapper(pool_size(settings.mapping_workers), settings.batch_size)
    try:
        yield mapper
    finally:
        mapper.close()


# A record as sent to a mapping process: (header index, values, source id, stamp, deleted,
# position, warnings or None); or a line as its (position, text), which the process splits.
Packed = tuple[int, tuple[Any, ...], str | None, datetime | None, bool, int | None, list[Any] | None]
PackedText = tuple[int, str]
_RECORDS = (SourceRecord, RecordText)


def pack(
    batch: Sequence[Mappable], split: Callable[[int, str], SourceRecord | ReadError] | None = None
) -> tuple[list[tuple[str, ...]], list[Packed | PackedText | ReadError | SourceWarning]]:
    """The batch as plain tuples, each header once: what a pool sends to a mapping process.

    Pickling a record as a tuple of its values costs a fraction of pickling its dataclass and
    dict (the importing process pays it, and is the pool's bottleneck). A line read as its text
    whose stream's `split` the processes hold goes as its text: neither split nor packed here.
    `unpack` inverts it.
    """
    headers: dict[tuple[str, ...], int] = {}
    packed: list[Packed | PackedText | ReadError | SourceWarning] = []
    for read in batch:
        if type(read) is RecordText:
            if split is not None and read.split == split:
                packed.append((read.position, read.raw))
                continue
            item: Item = read.record()
        else:
            item = read  # type: ignore[assignment]
        if type(item) is SourceRecord:
            fields = item.fields
            header = headers.setdefault(tuple(fields), len(headers))
            packed.append(
                (
                    header,
                    tuple(fields.values()),
                    item.source_id,
                    item.modstamp,
                    item.deleted,
                    item.position,
                    item.warnings or None,
                )
            )
        else:
            packed.append(item)  # type: ignore[arg-type]
    return list(headers), packed


def unpack(
    packed: tuple[list[tuple[str, ...]], list[Packed | PackedText | ReadError | SourceWarning]],
    split: Callable[[int, str], SourceRecord | ReadError] | None = None,
) -> list[Item]:
    """The batch `pack` was given, equal item for item (lines sent as text split by `split`)."""
    headers, items = packed
    batch: list[Item] = []
    for item in items:
        if type(item) is tuple and len(item) == 2:
            assert split is not None, "a line sent as text to a process without the stream's split"
            line, text = item
            batch.append(split(line, text))
        elif type(item) is tuple:
            header, values, source_id, modstamp, deleted, position, warnings = item  # type: ignore[misc]
            fields = dict(zip(headers[header], values, strict=True))
            batch.append(SourceRecord(source_id, fields, modstamp, deleted, position, warnings or []))
        else:
            batch.append(item)  # type: ignore[arg-type]
    return batch


def _map_packed(
    packed: tuple[list[tuple[str, ...]], list[Packed | PackedText | ReadError | SourceWarning]],
    spec: MappingSpec,
    raw_hashes: list[str | None] | None,
) -> MappedBatch:
    return map_batch(unpack(packed, _split_here), spec, raw_hashes)
