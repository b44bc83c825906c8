"""Skipping unchanged rows before mapping: one set-wise lookup of raw-row hashes per batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors import RecordText, SourceRecord
from models import CustomerSource
from models.enums import RecordOutcome
from sync.load import BatchTarget, StoredRows, find_unchanged, mark_seen, stored_after
from sync.mapping import MappingSpec, Repeats, raw_hasher
from sync.pipeline.mapper import Mappable, MappedBatch, map_batch

# An item as a stream's `lazy_records` gives it: a record may still be its text alone.
Read = Mappable


@dataclass(slots=True)
class Skipped:
    """What a batch left unmapped: ids of rows the store already holds as read, and repeats."""

    # (source id, line) of each row counted `unchanged`
    unchanged: list[tuple[str, int | None]] = field(default_factory=list)
    duplicates: int = 0  # read again within this run, counted `duplicates`
    # Beside `unchanged`: each row (never split, if read as its text) and its raw hash, should
    # it have to be mapped after all.
    rows: list[tuple[SourceRecord | RecordText, str]] = field(default_factory=list)
    # Beside `unchanged`: the pk of the stored source row each was found on.
    pks: list[int] = field(default_factory=list)
    # The rows counted in `duplicates` (row, raw hash, source id), should a mapped row of their
    # id come before them in the file: then they are mapped after all, the last line winning.
    repeats: list[tuple[SourceRecord | RecordText, str, str]] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.unchanged) + self.duplicates


@dataclass(slots=True)
class Split:
    """A batch split into the items still to map (with their raw hashes) and what was skipped.

    `items` may still be a record's text (`RecordText`): split where they are mapped
    (`map_batch`), in a mapping process when there is a pool; the skipped rows never are.
    """

    items: list[Read]
    raw_hashes: list[str | None] | None
    skipped: Skipped


class UnchangedRows:
    """Finds the rows of a batch whose raw hash its source row already carries.

    Only customers: the other kinds' loaders keep no raw hash. A hit means the last write of
    that source row came from exactly this raw row under exactly this mapping, so mapping it
    again could only conclude `unchanged`.

    A re-imported file mostly lists its rows in the order they were first stored (the store's
    pk order), so each batch is first compared with the stored rows that follow the last one
    it found (one range read, `stored_after`); only the hashes not found there are looked up
    one by one (`find_unchanged`). A file in another order ends the range reads after two
    batches that found too little in them. Both reads are taken when the batch is split, so
    they see what every batch before it wrote.
    """

    def __init__(
        self,
        engine: Engine,
        target: BatchTarget,
        spec: MappingSpec,
        context: str = "",
        repeats: Repeats | None = None,
    ) -> None:
        self.engine = engine
        # A line whose id the file reads again further down is mapped, found unchanged or not:
        # its draft is held until that last line (`Superseded`), which decides the id's outcome.
        self.repeats = repeats or Repeats()
        self.target = target
        self.enabled = spec.kind == "customers"
        # `context`: the stream's raw_context(), what a record's raw text is read under.
        self.hash = raw_hasher(spec, context)
        # A source the store holds no row of (a first import) can have no unchanged row: its
        # rows are hashed, not looked up. A row repeated later in the run is then mapped, and
        # the loader, which sees what this run wrote, counts it a duplicate all the same.
        self.lookup = self.enabled and _holds_any(engine, target.source)
        self._after = 0  # the pk the next range read starts after
        self._ranged = self.lookup  # whether range reads still pay
        self._misses = 0  # batches in a row that found too little in the range read

    def split(self, batch: Sequence[Read]) -> Split:
        if not self.enabled:
            return Split(list(batch), None, Skipped())
        digest = self.hash
        # A text that splits into an unreadable row has a hash too: mapping uses a hash only
        # for a record's draft.
        hashes = [digest(item) if type(item) in _HASHED else None for item in batch]  # type: ignore[arg-type]
        if not self.lookup:
            return Split(list(batch), hashes, Skipped())
        with self.engine.connect() as conn:
            known = self._find(conn, [h for h in hashes if h])
        if not known.pks:
            return Split(list(batch), hashes, Skipped())
        items: list[Read] = []
        kept: list[str | None] = []
        skipped = Skipped()
        found, ids, seen = known.pks, known.ids, known.seen
        taken: set[int] = set()  # pks, one to a source id
        # Rows the batches written before this one skipped, when kept in memory, not in
        # `sync_seen`: of this batch's hits, those (a page of bits tested at once, not a
        # method call per row).
        read_pks = self.target.read_pks
        before = read_pks.members(filter(None, map(found.get, filter(None, hashes)))) if read_pks else set()
        # Most batches read no repeated id: one set test in C, not a lookup per row.
        repeated = self.repeats and not self.repeats.last.keys().isdisjoint(ids.values())
        later = self.repeats.later_than if repeated else None
        if later is None and not seen and not before:
            # A nightly sync of an unchanged export: every row found, each once. Set-wise, in
            # C, what the loop below would conclude row by row.
            pks: list[int | None] = list(map(found.get, hashes))  # type: ignore[arg-type]  # None finds None
            if None not in pks and len(set(pks)) == len(pks):
                hits = cast(list[int], pks)
                skipped.unchanged = list(
                    zip(map(ids.__getitem__, hits), [item.position for item in batch], strict=True)
                )
                skipped.rows = list(zip(batch, hashes, strict=True))  # type: ignore[arg-type]  # hits are records
                skipped.pks = hits
                return Split(items, kept, skipped)
        for item, h in zip(batch, hashes, strict=True):
            pk = found.get(h) if h else None
            if pk is not None and later is not None and later(ids[pk], item.position) is not None:
                # Even a line the store holds as it is: its stamp and place may still win over
                # the lines held beside it, so it is held with them.
                pk = None
            if pk is None:
                items.append(item)
                kept.append(h)
            elif pk in seen or pk in taken or pk in before:
                skipped.duplicates += 1
                skipped.repeats.append((item, h, ids[pk]))  # type: ignore[arg-type]  # a record
            else:
                skipped.unchanged.append((ids[pk], item.position))
                skipped.rows.append((item, h))  # type: ignore[arg-type]  # a hit is a record
                skipped.pks.append(pk)
                taken.add(pk)
        return Split(items, kept, skipped)

    def recall(self, batch: Sequence[Read]) -> None:
        """Note the rows of a batch a resumed run had committed before it stopped (`read_pks`).

        Its rows skipped as unchanged left no `sync_seen` row: each is found again by its
        hash, on the stored row it was skipped for (or on the row this run wrote for it,
        whose id `sync_seen` holds as well).
        """
        if self.target.read_pks is None or not self.lookup:
            return
        digest = self.hash
        rows = [(digest(item), item.position) for item in batch if type(item) in _HASHED]  # type: ignore[arg-type]
        with self.engine.connect() as conn:
            known = self._find(conn, [h for h, _ in rows])
        found, ids = known.pks, known.ids
        if self.repeats:
            # As `split` decided: a line whose id is read again further down was mapped (held).
            later = self.repeats.later_than
            found = {h: found[h] for h, line in rows if h in found and later(ids[found[h]], line) is None}
        self.target.read_pks.update(found.values())

    def _find(self, conn: sa.Connection, hashes: list[str]) -> StoredRows:
        """The stored rows among `hashes`: from the range after the last found, then one by one."""
        wanted = set(hashes)
        ranged = StoredRows()
        if self._ranged and hashes:
            # A little more than the batch: rows deleted or moved since leave gaps in the pks.
            span = len(hashes) * 5 // 4 + 16
            ranged = stored_after(conn, self.target, self._after, span).among(wanted)
        rest = [h for h in hashes if h not in ranged.pks]
        exact = find_unchanged(conn, self.target, rest) if rest else StoredRows()
        if self._ranged and hashes:
            self._follow(ranged, exact)
        ranged.update(exact)
        return ranged

    def _follow(self, ranged: StoredRows, exact: StoredRows) -> None:
        """Move the range to where this batch was found; give it up when the file's order is another."""
        if len(ranged.pks) >= len(exact.pks):
            # New rows are found nowhere: only rows found elsewhere speak against the range.
            self._misses = 0
            if ranged.pks:
                self._after = max(ranged.pks.values())
            return
        self._misses += 1
        if self._misses >= 2:
            self._ranged = False
        else:
            # Found elsewhere (a chunk in the middle of the file, rows moved): start there.
            self._after = min(exact.pks.values()) - 1


# What a raw hash is taken of: records, and records still as their text.
_HASHED = (SourceRecord, RecordText)


def _holds_any(engine: Engine, source: str) -> bool:
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(cs.c.source_id).where(cs.c.source == source).limit(1)).first() is not None
        )


def record_skipped(conn: sa.Connection, target: BatchTarget, skipped: Skipped) -> Counter[str]:
    """Mark the skipped rows read by this run (as the loader does its own); their count deltas.

    A run that keeps them in memory (`target.read_pks`) notes them there instead: no row
    per unchanged id written now and deleted when the run ends.
    """
    if target.read_pks is None:
        mark_seen(conn, target.run_id, skipped.unchanged)
    else:
        # After the loader: the rows of this batch it loaded are not "read before" themselves
        # (`map_clashes` took out of `unchanged` every id a row of the batch also loads).
        target.read_pks.update(skipped.pks)
    return Counter(
        {
            "read": skipped.read,
            RecordOutcome.UNCHANGED: len(skipped.unchanged),
            RecordOutcome.DUPLICATE: skipped.duplicates,
        }
    )


def map_clashes(skipped: Skipped, mapped: MappedBatch, spec: MappingSpec, written: set[str]) -> None:
    """Map after all the rows `skipped` as unchanged whose source id another row also read.

    A row of the same batch that was mapped (a changed copy of the id, earlier or later in the
    file) or a batch loaded meanwhile (`written`) may hold the same id: skipped, the unchanged
    row would leave that other row's write standing even where the file's order says the
    unchanged row wins. Mapped, it goes to the loader beside the other, which keeps the later
    line and counts the other a duplicate, as when every row is mapped.
    """
    if not skipped.unchanged and not skipped.repeats:
        return
    clash = written | {d.source_id for d in mapped.drafts}
    if clash.isdisjoint(map(itemgetter(0), skipped.unchanged)) and clash.isdisjoint(
        map(itemgetter(2), skipped.repeats)
    ):
        return  # most batches: no id read twice (a loop in C, not one in Python per row)
    redo = [i for i, (sid, _) in enumerate(skipped.unchanged) if sid in clash]
    # A repeat of such an id is mapped too: it may be the id's last line (its first line
    # unchanged, a changed one, then the first again), and the loader counts it a duplicate.
    repeats = [r for r in skipped.repeats if r[2] in clash]
    if not redo and not repeats:
        return
    rows = [*(skipped.rows[i] for i in redo), *((item, h) for item, h, _ in repeats)]
    again = map_batch([item for item, _ in rows], spec, [h for _, h in rows])
    mapped.read += again.read
    mapped.issues.extend(again.issues)
    # In file order, so the last line of a source id still wins in the loader.
    mapped.drafts = sorted([*mapped.drafts, *again.drafts], key=lambda d: d.position or 0)
    gone = set(redo)
    skipped.unchanged = [u for i, u in enumerate(skipped.unchanged) if i not in gone]
    skipped.rows = [r for i, r in enumerate(skipped.rows) if i not in gone]
    skipped.pks = [p for i, p in enumerate(skipped.pks) if i not in gone]
    skipped.duplicates -= len(repeats)
    skipped.repeats = [r for r in skipped.repeats if r[2] not in clash]
