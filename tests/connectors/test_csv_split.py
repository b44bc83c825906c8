"""The reader's record splitting: lines without a quote split in one call, exactly as the csv module reads them."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from connectors.csv.reader import CsvRow, _split


def _by_csv_module(text: str, delimiter: str) -> list[tuple[int, list[str] | None, str]]:
    """What the csv module alone makes of `text`: (first line, cells, the record's text)."""
    lines = io.StringIO(text, newline="").readlines()
    feed = iter(lines)
    reader = csv.reader(feed, delimiter=delimiter, strict=False)
    records: list[tuple[int, list[str] | None, str]] = []
    start = 1
    while True:
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return records
        except csv.Error:
            cells = None
        end = reader.line_num
        records.append((start, cells, "".join(lines[start - 1 : end]).rstrip("\r\n")))
        start = end + 1


def _by_split(text: str, delimiter: str) -> list[tuple[int, list[str] | None, str]]:
    lines = io.StringIO(text, newline="").readlines()
    rows: list[CsvRow] = list(_split(iter(lines), delimiter, {}, set(), 1))
    return [(r.line, r.cells, r.raw) for r in rows]


# Cells made of what matters to a CSV reader: quotes, delimiters, line ends, spaces, NUL.
_pieces = st.sampled_from(['"', '""', ",", ";", "\n", "\r\n", "\r", " ", "'", "\x00", "a", "é", "1"])
_text = st.lists(_pieces, max_size=40).map("".join)


@given(_text, st.sampled_from([",", ";"]))
def test_split_reads_every_text_as_the_csv_module_does(text: str, delimiter: str) -> None:
    assert _by_split(text, delimiter) == _by_csv_module(text, delimiter)


@given(st.lists(st.lists(st.text(max_size=8), min_size=1, max_size=4), max_size=8))
def test_split_reads_what_the_csv_module_writes(rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    assert _by_split(out.getvalue(), ",") == _by_csv_module(out.getvalue(), ",")


def test_a_line_without_quotes_is_split_at_its_delimiter_and_keeps_its_text() -> None:
    rows = list(_split(iter(["1,Ada,Lovelace\r\n", "\n", '2,"Bob\n', ' Smith",x\n']), ",", {}, set(), 1))
    assert [(r.line, r.cells, r.raw) for r in rows] == [
        (1, ["1", "Ada", "Lovelace"], "1,Ada,Lovelace"),
        (2, [], ""),
        (3, ["2", "Bob\n Smith", "x"], '2,"Bob\n Smith",x'),
    ]
