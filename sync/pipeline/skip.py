"""Skipping unchanged rows before mapping: one set-wise lookup of raw-row hashes per batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors import SourceRecord
from models import CustomerSource
from models.enums import RecordOutcome
from sync.load import BatchTarget, find_unchanged, mark_seen
from sync.mapping import MappingSpec, raw_hasher
from sync.pipeline.mapper import Item


@dataclass(slots=True)
class Skipped:
    """What a batch left unmapped: ids of rows the store already holds as read, and repeats."""

    # (source id, line) of each row counted `unchanged`
    unchanged: list[tuple[str, int | None]] = field(default_factory=list)
    duplicates: int = 0  # read again within this run, counted `duplicates`
    # Beside `unchanged`: each row and its raw hash, should it have to be mapped after all.
    rows: list[tuple[SourceRecord, str]] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.unchanged) + self.duplicates


@dataclass(slots=True)
class Split:
    """A batch split into the items still to map (with their raw hashes) and what was skipped."""

    items: list[Item]
    raw_hashes: list[str | None] | None
    skipped: Skipped


class UnchangedRows:
    """Finds the rows of a batch whose raw hash its source row already carries.

    Only customers: the other kinds' loaders keep no raw hash. A hit means the last write of
    that source row came from exactly this raw row under exactly this mapping, so mapping it
    again could only conclude `unchanged`.
    """

    def __init__(self, engine: Engine, target: BatchTarget, spec: MappingSpec) -> None:
        self.engine = engine
        self.target = target
        self.enabled = spec.kind == "customers"
        self.hash = raw_hasher(spec)
        # A source the store holds no row of (a first import) can have no unchanged row: its
        # rows are hashed, not looked up. A row repeated later in the run is then mapped, and
        # the loader, which sees what this run wrote, counts it a duplicate all the same.
        self.lookup = self.enabled and _holds_any(engine, target.source)

    def split(self, batch: list[Item]) -> Split:
        if not self.enabled:
            return Split(batch, None, Skipped())
        hashes = [self.hash(item) if isinstance(item, SourceRecord) else None for item in batch]
        if not self.lookup:
            return Split(batch, hashes, Skipped())
        with self.engine.connect() as conn:
            known = find_unchanged(conn, self.target, [h for h in hashes if h])
        if not known:
            return Split(batch, hashes, Skipped())
        items: list[Item] = []
        kept: list[str | None] = []
        skipped = Skipped()
        taken: set[str] = set()
        for item, digest in zip(batch, hashes, strict=True):
            hit = known.get(digest) if digest else None
            if hit is None:
                items.append(item)
                kept.append(digest)
            elif hit.seen or hit.source_id in taken:
                skipped.duplicates += 1
            else:
                skipped.unchanged.append((hit.source_id, item.position))
                skipped.rows.append((item, digest))  # type: ignore[arg-type]  # a hit is a record
                taken.add(hit.source_id)
        return Split(items, kept, skipped)


def _holds_any(engine: Engine, source: str) -> bool:
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(cs.c.source_id).where(cs.c.source == source).limit(1)).first() is not None
        )


def record_skipped(conn: sa.Connection, target: BatchTarget, skipped: Skipped) -> Counter[str]:
    """Mark the skipped rows read by this run (as the loader does its own); their count deltas."""
    mark_seen(conn, target.run_id, skipped.unchanged)
    return Counter(
        {
            "read": skipped.read,
            RecordOutcome.UNCHANGED: len(skipped.unchanged),
            RecordOutcome.DUPLICATE: skipped.duplicates,
        }
    )
