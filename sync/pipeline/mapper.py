"""Mapping a batch, inline or in a pool of worker processes (validation is CPU-bound)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context
from typing import Any

from connectors import ReadError, SourceRecord, SourceWarning
from models.text import unstorable, unstorable_in
from sync.mapping import Draft, Issue, MappingSpec, map_record
from sync.settings import Settings


@dataclass(slots=True)
class MappedBatch:
    """A batch after mapping: how many records it read, its drafts, and its issues."""

    read: int
    drafts: list[Draft]
    issues: list[tuple[str, Issue]]


Item = SourceRecord | ReadError | SourceWarning


def map_batch(
    batch: list[Item], spec: MappingSpec, raw_hashes: list[str | None] | None = None
) -> MappedBatch:
    """Map one batch; a pure function, so it can run in another process.

    `raw_hashes[i]` (sync.mapping.raw) goes onto the draft of `batch[i]`, for its source row.
    """
    drafts: list[Draft] = []
    issues: list[tuple[str, Issue]] = []
    notices = 0
    for i, item in enumerate(batch):
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
                            ),
                        )
                    )
                    continue
            drafts.append(mapped)
            issues.extend(("warning", w) for w in mapped.warnings)
    return MappedBatch(len(batch) - notices, drafts, issues)


Mapper = Callable[[list[Item], MappingSpec, list[str | None] | None], "Future[MappedBatch]"]


@contextmanager
def batch_mapper(settings: Settings) -> Iterator[Mapper]:
    """Map in worker processes when configured (validation is CPU-bound), else inline."""
    if settings.mapping_workers <= 0:

        def inline(
            batch: list[Item], spec: MappingSpec, raw_hashes: list[str | None] | None = None
        ) -> Future[MappedBatch]:
            future: Future[MappedBatch] = Future()
            future.set_result(map_batch(batch, spec, raw_hashes))
            return future

        yield inline
        return
    with ProcessPoolExecutor(settings.mapping_workers, mp_context=get_context("fork")) as pool:

        def in_pool(
            batch: list[Item], spec: MappingSpec, raw_hashes: list[str | None] | None = None
        ) -> Future[MappedBatch]:
            return pool.submit(_map_packed, pack(batch), spec, raw_hashes)

        yield in_pool


# A record as sent to a mapping process: (header index, values, source id, stamp, deleted,
# position, warnings or None).
Packed = tuple[int, tuple[Any, ...], str | None, datetime | None, bool, int | None, list[Any] | None]


def pack(batch: Sequence[Item]) -> tuple[list[tuple[str, ...]], list[Packed | ReadError | SourceWarning]]:
    """The batch as plain tuples, each header once: what a pool sends to a mapping process.

    Pickling a record as a tuple of its values costs a fraction of pickling its dataclass and
    dict (the importing process pays it, and is the pool's bottleneck). `unpack` inverts it.
    """
    headers: dict[tuple[str, ...], int] = {}
    packed: list[Packed | ReadError | SourceWarning] = []
    for item in batch:
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


def unpack(packed: tuple[list[tuple[str, ...]], list[Packed | ReadError | SourceWarning]]) -> list[Item]:
    """The batch `pack` was given, equal item for item."""
    headers, items = packed
    batch: list[Item] = []
    for item in items:
        if type(item) is tuple:
            header, values, source_id, modstamp, deleted, position, warnings = item
            fields = dict(zip(headers[header], values, strict=True))
            batch.append(SourceRecord(source_id, fields, modstamp, deleted, position, warnings or []))
        else:
            batch.append(item)  # type: ignore[arg-type]
    return batch


def _map_packed(
    packed: tuple[list[tuple[str, ...]], list[Packed | ReadError | SourceWarning]],
    spec: MappingSpec,
    raw_hashes: list[str | None] | None,
) -> MappedBatch:
    return map_batch(unpack(packed), spec, raw_hashes)
