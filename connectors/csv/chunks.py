"""Cutting a CSV file into byte ranges at row boundaries, and reading one range back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.base import ReadError, RecordText, SourceRecord, SourceWarning, StreamContext
from connectors.csv.reader import CsvFile
from connectors.csv.stream import CsvStream

_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Rows `start` (inclusive) to `end` (exclusive) in bytes; the first begins on `first_line`."""

    start: int
    end: int
    first_line: int


def can_split(file: CsvFile) -> bool:
    """Byte ranges need `"` and newline to be single bytes that never occur inside a character.

    Rows are cut at `\n`, so a file whose lines end in a bare `\r` (old Mac) is read whole.
    """
    return not file.layout.encoding.startswith("utf-16") and not file.bare_cr


def split_rows(path: Path, chunk_bytes: int) -> list[ByteRange]:
    """Ranges of about `chunk_bytes`, each starting at a row, header excluded; one pass.

    A newline inside quotes is part of a cell, not a row end. Every `"` flips the quoted
    state (an escaped `""` flips it twice), so the state at any byte is the parity of the
    quotes before it: counting with `bytes.count` keeps the pass at C speed.
    """
    ranges: list[ByteRange] = []
    with path.open("rb") as fh:
        quoted = False
        newlines = 0  # newlines before the scan position, for line numbers
        offset = 0  # absolute position of block[0]
        start: int | None = None  # the current range's start; None while in the header
        start_line = 1
        target = 0  # cut at the first row end at or after this offset
        while block := fh.read(_BLOCK):
            i = 0
            while i < len(block):
                if offset + len(block) <= target:
                    quoted ^= bool(block.count(b'"', i) & 1)
                    newlines += block.count(b"\n", i)
                    break
                if offset + i < target:
                    j = target - offset
                    quoted ^= bool(block.count(b'"', i, j) & 1)
                    newlines += block.count(b"\n", i, j)
                    i = j
                n = block.find(b"\n", i)
                if n == -1:
                    quoted ^= bool(block.count(b'"', i) & 1)
                    break
                quoted ^= bool(block.count(b'"', i, n) & 1)
                newlines += 1
                i = n + 1
                if quoted:
                    continue
                cut = offset + i
                if start is not None:
                    ranges.append(ByteRange(start, cut, start_line))
                start, start_line = cut, newlines + 1
                target = cut + chunk_bytes
            offset += len(block)
    if start is not None and start < offset:
        ranges.append(ByteRange(start, offset, start_line))
    return ranges


class CsvRangeStream(CsvStream):
    """The rows of one byte range of a CSV file, numbered with the file's own lines."""

    def __init__(self, path: Path, span: ByteRange, *args: Any, **kwargs: Any) -> None:
        super().__init__(path, *args, **kwargs)
        self.span = span

    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError | SourceWarning]:
        # Decoded line by line like the whole file (a stray cp1252 row reads the same in a
        # chunk); the header's own warnings belong to the chunk that starts the file.
        rows = self.file.read_range(self.span.start, self.span.end, self.span.first_line)
        first = self.span.first_line <= 2
        return self._records_from(rows, header_warnings=first)

    def lazy_records(
        self, ctx: StreamContext
    ) -> Iterator[SourceRecord | RecordText | ReadError | SourceWarning]:
        # The range's own records, never the whole file's (`CsvStream.lazy_records`).
        return self.records(ctx)
