"""Which source ids a file reads on more than one line, and the line each is read on last."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from sync.mapping.spec import MappingSpec, given_source_id, header_key

# The pass keeps two bits per id, not the ids: 2**27 bits (16 MiB) whatever the file's size,
# each id setting the bits at two 27-bit slices of its 64-bit hash (a Bloom filter, k = 2). An
# id whose two bits are both set already is kept by name with its line: of 200,000 distinct
# ids about 1 collides so, of 1,000,000 ~70, of 3,000,000 ~2,000 (kept for nothing: their last
# line is their only one). One bit per id named ~150, ~3,700 and ~33,000.
FILTER_BITS = 1 << 27
_SLICE = 27  # bits of the hash each probe takes


@dataclass(slots=True)
class Repeats:
    """The ids a file reads on more than one line, each with the last line it is read on.

    A line of such an id read before its last one is superseded within the run: the pipeline
    holds its draft back until that last line is reached (`sync.pipeline.repeats`), so that what
    a run applies does not depend on where its batches end. `last` may also name ids read only
    once (a collision in the pass's filter): their last line is their only one.
    """

    last: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.last)

    def later_than(self, source_id: str, line: int | None) -> int | None:
        """The last line of `source_id` if it comes after `line`; None when `line` is its last."""
        last = self.last.get(source_id)
        if last is None or line is None or last <= line:
            return None
        return last


def id_cells(spec: MappingSpec, header: Sequence[str]) -> list[int]:
    """Where in a row of `header` the ids `spec` keys customers on are, in the spec's order;
    none for other kinds, or ids a `prepare` function makes."""
    if spec.kind != "customers" or spec.prepare is not None:
        return []
    index = {header_key(name): i for i, name in enumerate(header)}
    return [index[key] for key in dict.fromkeys(map(header_key, spec.id_columns)) if key in index]


class RepeatFinder:
    """Fed every row of a file once, before the run: which ids it reads more than once (`Repeats`).

    Each row's id is read from its cells as `map_record` reads it (`record_source_id`): a
    leading apostrophe (Excel's "keep as text") is not data, blank values count as empty, the
    first id column with a value gives the id (an id column the header names twice has its
    repeat as the next id column, `bind_layout`). Most ids are already clean text, and are
    their own key in the filter; the others are cleaned first (`given_source_id`). Salesforce
    ids are keyed case-blind on their first 15 characters, which every form of one id shares;
    an id is named only once its key was seen before.
    """

    def __init__(self, spec: MappingSpec, header: Sequence[str]) -> None:
        self.spec = spec
        self.width = len(header)
        self.columns = id_cells(spec, header)
        self.needed = max(self.columns, default=-1) + 1  # leading cells a row is split into
        self.salesforce = spec.id_format == "salesforce"
        self.bits = np.zeros(FILTER_BITS // 8, dtype=np.uint8)
        self.found: dict[str, int] = {}

    @classmethod
    def for_spec(cls, spec: MappingSpec, header: Sequence[str]) -> RepeatFinder | None:
        """A finder for rows under `spec`; None when they have no id column to repeat."""
        if not id_cells(spec, header):
            return None
        return cls(spec, header)

    def add(self, line: int, cells: Sequence[str]) -> None:
        """One row, split into its cells; a row of another width is no record (a reject)."""
        if len(cells) == self.width:
            self._add_block([line], [cells])

    def add_lines(self, first: int, lines: list[str], delimiter: str) -> None:
        """Plain lines numbered from `first`, each split only as far as its id columns."""
        commas = self.width - 1
        numbers = [n for n, text in enumerate(lines, first) if text.count(delimiter) == commas]
        texts = lines if len(numbers) == len(lines) else [lines[n - first] for n in numbers]
        if self.columns == [0] and self.width > 1:
            # An id in the first column (most files): cut off, the rest of the line never split.
            rows: list[Sequence[str]] = [(text[: text.find(delimiter)],) for text in texts]
        else:
            rows = [text.split(delimiter, self.needed) for text in texts]
        self._add_block(numbers, rows)

    def add_rows(self, numbers: list[int], rows: list[list[str]]) -> None:
        """Rows of the header's width, split at least as far as the id columns, and their lines."""
        self._add_block(numbers, rows)

    def _add_block(self, numbers: list[int], rows: Sequence[Sequence[str]]) -> None:
        """Rows of the header's width and their lines: the filter tested and set a block at a time."""
        values, keys = self._keys(rows)
        kept = [i for i, key in enumerate(keys) if key is not None] if None in keys else None
        if kept is not None:
            numbers = [numbers[i] for i in kept]
            values = [values[i] for i in kept]
            keys = [keys[i] for i in kept]
        if not keys:
            return
        hashes = np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))
        probes = [(hashes >> shift) & (FILTER_BITS - 1) for shift in (0, _SLICE)]
        places = [(p >> 3, np.left_shift(1, p & 7).astype(np.uint8)) for p in probes]
        hit = np.logical_and.reduce([(self.bits[where] & bit) != 0 for where, bit in places])
        # Within the block the filter is not set yet: an id read twice in it is found by sorting
        # the whole hashes.
        order = np.argsort(hashes, kind="stable")
        ranked = hashes[order]
        hit[order[1:][ranked[1:] == ranked[:-1]]] = True
        for where, bit in places:
            np.bitwise_or.at(self.bits, where, bit)
        spec, found = self.spec, self.found
        for i in np.flatnonzero(hit).tolist():  # in line order: the last line stays
            source_id = given_source_id(values[i], spec)
            if source_id is not None:
                found[source_id] = numbers[i]

    def _keys(self, rows: Sequence[Sequence[str]]) -> tuple[list[str | None], list[str | None]]:
        """Each row's id value (`_value`) and its key in the filter (None: no id of its own)."""
        if len(self.columns) == 1:
            values: list[str | None] = list(map(itemgetter(self.columns[0]), rows))
            joined = "".join(values)  # type: ignore[arg-type]  # all str here
            # Most blocks: ids with no space, apostrophe or invisible character, none blank.
            if (
                "" not in values
                and " " not in joined
                and "'" not in joined
                and joined.isprintable()
                and self.spec.blank_values.isdisjoint(values)
            ):
                keys = values
                if self.salesforce:
                    keys = [v[:15].lower() for v in values]  # type: ignore[index]
                return values, keys
        values = [self._value(row) for row in rows]
        return values, [self._key(v) for v in values]

    def _key(self, value: str | None) -> str | None:
        if value is None:
            return None
        # Clean text is its own source id; only other values pay for cleaning.
        key = value if _clean(value) else given_source_id(value, self.spec)
        if key is not None and self.salesforce:
            key = key[:15].lower()
        return key

    def _value(self, cells: Sequence[str]) -> str | None:
        """The first id cell with a value (`_pick`), without a leading apostrophe."""
        blank = self.spec.blank_values
        for i in self.columns:
            value = cells[i]
            if value[:1] == "'":
                value = value[1:]
            stripped = value.strip()
            if stripped and stripped not in blank:
                return value
        return None

    def repeats(self) -> Repeats:
        """What the rows showed; the filter is let go."""
        self.bits = np.zeros(0, dtype=np.uint8)
        return Repeats(self.found)


def _clean(value: str) -> bool:
    """Whether `clean_text` leaves `value` as it is: no space at its ends or twice in a row, no
    other white space and no invisible character (neither is printable)."""
    return value.isprintable() and value[0] != " " and value[-1] != " " and "  " not in value
