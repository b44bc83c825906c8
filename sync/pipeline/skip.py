"""Skipping unchanged rows before mapping: one set-wise lookup of raw-row hashes per batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors import SourceRecord
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

    def split(self, batch: list[Item]) -> Split:
        if not self.enabled:
            return Split(batch, None, Skipped())
        hashes = [self.hash(item) if isinstance(item, SourceRecord) else None for item in batch]
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
                taken.add(hit.source_id)
        return Split(items, kept, skipped)


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
