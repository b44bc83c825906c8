"""Cutting a CSV at row boundaries: the ranges read back exactly the file's rows, lines included."""

from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

import pytest

from connectors import StreamContext
from connectors.csv import CsvRangeStream, CsvStream, split_rows


def _export(path: Path, rows: int, encoding: str = "utf-8") -> Path:
    rng = random.Random(1)
    notes = ["plain", 'with "quotes"', "multi\nline\nnote", 'x,"y"\n"z"', "é ü ß", ""]
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(["Customer ID", "Email", "Note"])
        for i in range(rows):
            writer.writerow([str(i), f"p{i}@example.com", rng.choice(notes)])
        fh.write("1,short row\n")  # a wrong-width row is a ReadError at the same line either way
    return path


@pytest.mark.parametrize("chunk_bytes", [1, 500, 10**7])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_ranges_read_back_every_row_once_with_its_file_line(
    tmp_path: Path, chunk_bytes: int, encoding: str
) -> None:
    path = _export(tmp_path / "e.csv", 40, encoding)
    whole = list(CsvStream(path, "csv", "CSV", "customers").records(StreamContext()))
    ranges = split_rows(path, chunk_bytes)
    pieces = [
        item
        for span in ranges
        for item in CsvRangeStream(path, span, "csv", "CSV", "customers").records(StreamContext())
    ]
    assert pieces == whole
    assert ranges[0].start > 0  # the header is in no range
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    assert ranges[-1].end == path.stat().st_size
    if chunk_bytes == 1:
        assert len(ranges) == 41  # one row each, quoted newlines never cut
