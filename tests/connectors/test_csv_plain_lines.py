"""Plain lines: a file without quotes read many lines at a time, exactly as `read` reads its records;
unsplit, exactly the records once split."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import RecordText, StreamContext
from connectors.csv import CsvStream, reader
from connectors.csv.reader import CsvFile, NotPlainError


@contextmanager
def _read_in_chunks(content: bytes, chunk: int) -> Iterator[Path]:
    """A file holding `content`, read `chunk` bytes at a time while the block is open."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_bytes(content)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(reader, "_CHUNK_BYTES", chunk)
            yield path


# What matters to the reader: delimiters, line ends (bare \r too), quotes, NUL, UTF-8 and
# cp1252 bytes, blanks.
_pieces = st.sampled_from(
    [
        b",",
        b";",
        b"\n",
        b"\r\n",
        b"\r",
        b'"',
        b"\x00",
        b" ",
        b"a",
        b"1",
        b"\xc3\xa9",
        b"\xe9",
        b"\xef\xbb\xbf",
    ]
)
_body = st.lists(_pieces, max_size=60).map(b"".join)


def _cells(file: CsvFile) -> list[list[str]] | None:
    try:
        return [
            line.split(file.layout.delimiter) if line else []
            for lines in file.plain_lines()
            for line in lines
        ]
    except NotPlainError:
        return None


@given(st.sampled_from([b"id,name,x\n", b"\xef\xbb\xbfid;name\r\n", b"id,n"]), _body, st.integers(1, 9))
def test_plain_lines_are_the_cells_read_gives(header: bytes, body: bytes, chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_bytes(header + body)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(reader, "_CHUNK_BYTES", chunk)  # lines cut across reads
            try:
                file = CsvFile(path)
            except Exception:
                return  # not a CSV file at all
            plain = _cells(file)
            read = [row.cells for row in file.read()]
    if plain is not None:
        assert plain == read
    else:
        # Refused only for what it cannot read plainly (the csv module's quotes and NUL, a bare
        # carriage return, bytes that are not UTF-8).
        data = (header + body).replace(b"\r\n", b"")
        assert any(b in data for b in (b'"', b"\x00", b"\r", b"\xe9", b"\xef\xbb\xbf"))


def test_a_plain_file_is_read_plain_and_a_quoted_one_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("id,name\r\n1,Ada\r\n\r\n2,Bob")
    assert _cells(CsvFile(plain)) == [["1", "Ada"], [], ["2", "Bob"]]
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('id,name\n1,"Ada"\n')
    assert _cells(CsvFile(quoted)) is None


@given(
    st.sampled_from([b"id,name,x\n", b"\xef\xbb\xbfid;name\r\n", b"id,n"]),
    st.lists(_body, min_size=1, max_size=3).map(b"\n".join),
    st.integers(1, 9),
)
def test_read_gives_the_rows_reading_record_by_record_gives(header: bytes, body: bytes, chunk: int) -> None:
    """Plain as far as the file is plain, then record by record: lines, cells, text and notes."""
    with _read_in_chunks(header + body, chunk) as path:
        try:
            file = CsvFile(path)
        except Exception:
            return
        fast = [(r.line, r.cells, r.raw, r.notes) for r in file.read()]
        each = [(r.line, r.cells, r.raw, r.notes) for r in file._read_records()]
    assert fast == each


def test_a_quote_late_in_a_file_is_read_by_the_csv_module_from_there(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes(b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(5000)) + b'9,"a\nb"\n10,z\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reader, "_CHUNK_BYTES", 4096)
        rows = list(CsvFile(path).read())
    assert [(r.line, r.cells) for r in rows[-2:]] == [(5002, ["9", "a\nb"]), (5004, ["10", "z"])]
    assert len(rows) == 5002


def _item(item: Any) -> Any:
    # What a pipeline maps: a record's text split as the stream splits it.
    return item.record() if isinstance(item, RecordText) else item


@given(
    st.sampled_from([b"id,name,x\n", b"\xef\xbb\xbfid;name\r\n", b"id,n", b"id,'n\n", b"id,\n"]),
    st.lists(_body | st.sampled_from([b"'1,'a,b", b" ; ", b",,", b"a,b,c,d"]), min_size=1, max_size=4).map(
        b"\n".join
    ),
    st.integers(1, 9),
)
def test_lazy_records_are_the_records_split_when_asked(header: bytes, body: bytes, chunk: int) -> None:
    """One item per record, blank lines left out alike; each text splits into the record `records` gives."""
    with _read_in_chunks(header + body, chunk) as path:
        try:
            stream = CsvStream(path, "csv", "CSV", "customers")
        except Exception:
            return
        records = list(stream.records(StreamContext()))
        lazy = list(stream.lazy_records(StreamContext()))
    assert [_item(item) for item in lazy] == records
    assert all(
        item.raw == record.raw
        for item, record in zip(lazy, records, strict=True)
        if isinstance(item, RecordText)
    )
