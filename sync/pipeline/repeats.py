"""Lines a file itself supersedes: held back until their id's last line, so batch ends change nothing."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

import structlog

from connectors import RecordText, SourceRecord
from sync.load import supersedes
from sync.mapping import Draft, MappingSpec, Repeats, record_source_id
from sync.pipeline.mapper import MappedBatch, map_batch

log = structlog.get_logger("sync.pipeline")

# Drafts held at once, at most. A file whose repeats stay open this long (two exports one after
# the other) applies the lines beyond it in turn, as each batch reads them, and says so once.
HOLD_LIMIT = 20_000


class Superseded:
    """Holds each draft whose id the file reads again further down, until that last line.

    Within one batch the loader applies one draft per id: the newest stamp, and between equal
    stamps the later line (`supersedes`). Applied batch by batch instead, a line the file
    supersedes would be written first and leave what a write cannot take back: a new source
    row joins a customer by its e-mail, and stays on it when the later line changes the
    e-mail. So a draft of such a line is taken out of its batch (counted a duplicate there),
    the best of an id's held drafts kept, and handed to the batch holding the id's last line,
    whose loader weighs it against that line as if both had been read together (the count
    given back). `repeats` comes from a pass over the file before the run.
    """

    def __init__(self, repeats: Repeats | None, limit: int | None = None) -> None:
        self.repeats = repeats or Repeats()
        self.limit = HOLD_LIMIT if limit is None else limit
        self.held: dict[str, Draft] = {}
        self.due: list[tuple[int, str]] = []  # (last line, id), a heap
        self.overflowed = False

    def __bool__(self) -> bool:
        return bool(self.repeats)

    def settle(self, mapped: MappedBatch, positions: Sequence[int | None], *, final: bool = False) -> None:
        """Take out of `mapped` the drafts of lines superseded further down, and put back the held
        drafts whose last line is in this batch (or all of them in the `final` batch)."""
        if not self.repeats:
            return
        kept = mapped.drafts
        # Most batches read no repeated id: one set test in C, not a call per draft.
        if not self.repeats.last.keys().isdisjoint([d.source_id for d in kept]):
            kept = [d for d in kept if not self._hold(d)]
            mapped.deferred += len(mapped.drafts) - len(kept)
        due = self._due(max((p for p in positions if p is not None), default=None), final)
        if due:
            mapped.deferred -= len(due)
            # In line order, so that the loader still sees the later line last.
            kept = sorted([*kept, *due], key=_line)
        mapped.drafts = kept

    def recall(
        self,
        batch: Sequence[SourceRecord | RecordText | object],
        spec: MappingSpec,
        raw_hash: Callable[[SourceRecord | RecordText], str],
    ) -> None:
        """Hold again the drafts a resumed run had held when it stopped, from a batch it re-reads.

        Only the rows of repeated ids are mapped again; what their batches counted stands.
        """
        if not self.repeats:
            return
        for item in batch:
            if type(item) is not SourceRecord and type(item) is not RecordText:
                continue
            record = item.record() if type(item) is RecordText else item
            if type(record) is not SourceRecord:
                continue  # unreadable: rejected when read
            source_id = record_source_id(record, spec)
            if source_id is None or self.repeats.later_than(source_id, record.position) is None:
                continue
            # Through `map_batch`, so a line it rejected when first read (unstorable text) is
            # not held now.
            for draft in map_batch([record], spec, [raw_hash(item)]).drafts:
                self._hold(draft)
        positions = [getattr(item, "position", None) for item in batch]
        # Those whose last line the run had already loaded were put back then.
        self._due(max((p for p in positions if p is not None), default=None), False)

    def _hold(self, draft: Draft) -> bool:
        """Hold `draft` if its id is read again further down; whether it was."""
        sid = draft.source_id
        last = self.repeats.later_than(sid, draft.position)
        if last is None:
            return False
        earlier = self.held.get(sid)
        if earlier is None:
            if len(self.held) >= self.limit:
                if not self.overflowed:
                    self.overflowed = True
                    log.warning("run.repeats_applied_in_turn", held=len(self.held), limit=self.limit)
                return False
            heapq.heappush(self.due, (last, sid))
            self.held[sid] = draft
        elif supersedes(draft, earlier):
            self.held[sid] = draft
        return True

    def _due(self, end: int | None, final: bool) -> list[Draft]:
        """The held drafts whose id's last line is at or before `end` (all when `final`)."""
        due: list[Draft] = []
        while self.due and (final or (end is not None and self.due[0][0] <= end)):
            _, sid = heapq.heappop(self.due)
            due.append(self.held.pop(sid))
        return due


def _line(draft: Draft) -> int:
    return draft.position or 0
