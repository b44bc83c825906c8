"""The CSV reader: encodings, delimiters, quoted newlines, and files that are not CSV at all."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from connectors.base import FatalSourceError, ReadError, SourceRecord, StreamContext
from connectors.csv import CsvFile, CsvStream

ROWS = "id,name,city\n1,Zoë,Köln\n2,Ana,Málaga\n"


def write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_all(path: Path) -> list[SourceRecord | ReadError]:
    return list(CsvStream(path, "csv", "CSV", "customers").records(StreamContext()))


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (ROWS.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + ROWS.encode("utf-8"), "utf-8-sig"),
        (ROWS.encode("utf-16"), "utf-16"),  # Python writes the BOM for "utf-16"
        (codecs.BOM_UTF16_BE + ROWS.encode("utf-16-be"), "utf-16"),
        (ROWS.encode("cp1252"), "cp1252"),
    ],
    ids=["utf8", "utf8-bom", "utf16-le-bom", "utf16-be-bom", "cp1252"],
)
def test_encodings_are_detected_and_decoded(tmp_path: Path, encoded: bytes, encoding: str) -> None:
    path = write(tmp_path, encoded)
    assert CsvFile(path).layout.encoding == encoding
    records = read_all(path)
    assert [r.fields for r in records if isinstance(r, SourceRecord)] == [
        {"id": "1", "name": "Zoë", "city": "Köln"},
        {"id": "2", "name": "Ana", "city": "Málaga"},
    ]


def test_a_stray_cp1252_byte_in_a_utf8_file_is_read_not_fatal(tmp_path: Path) -> None:
    body = "id,name\n" + "".join(f"{i},Name{i}\n" for i in range(5000))
    data = body.encode() + b"9999,Caf" + b"\xe9\n"  # é in cp1252, after the sniffed sample
    records = read_all(write(tmp_path, data))
    last = records[-1]
    assert isinstance(last, SourceRecord)
    assert last.fields["name"] == "Café"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = write(tmp_path, ROWS.replace(",", delimiter).encode())
    assert CsvFile(path).layout.delimiter == delimiter
    assert len([r for r in read_all(path) if isinstance(r, SourceRecord)]) == 2


def test_quoted_newlines_are_kept_and_lines_point_at_record_starts(tmp_path: Path) -> None:
    data = 'id,note\n1,"first\nsecond"\n2,plain\n3,"x ""quoted"" y"\n'
    records = read_all(write(tmp_path, data.encode()))
    assert [(r.position, r.fields["note"]) for r in records if isinstance(r, SourceRecord)] == [
        (2, "first\nsecond"),
        (4, "plain"),
        (5, 'x "quoted" y'),
    ]


def test_rows_of_the_wrong_width_are_read_errors_with_their_line(tmp_path: Path) -> None:
    data = "a,b,c\n1,2,3\n1,2\n1,2,3,4\n\n5,6,7\n"
    records = read_all(write(tmp_path, data.encode()))
    errors = [r for r in records if isinstance(r, ReadError)]
    assert [(e.position, e.reason) for e in errors] == [(3, "column_count"), (4, "column_count")]
    assert "2 columns, the header has 3" in errors[0].message
    assert len([r for r in records if isinstance(r, SourceRecord)]) == 2  # blank line skipped


def test_excel_apostrophe_prefix_is_dropped(tmp_path: Path) -> None:
    records = read_all(write(tmp_path, b"id,phone,zip\n1,'+4930123456,'01067\n"))
    assert isinstance(records[0], SourceRecord)
    assert records[0].fields == {"id": "1", "phone": "+4930123456", "zip": "01067"}


def test_dataloader_bom_fixture_reads_its_header(shared_fixtures: Path) -> None:
    path = shared_fixtures / "csv" / "dataloader_bom_utf8.csv"
    layout = CsvFile(path).layout
    assert layout.encoding == "utf-8-sig"
    assert not layout.header[0].startswith("\ufeff")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (bytes(range(256)) * 40, "not a text CSV file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, "not a text CSV file"),
    ],
    ids=["empty", "blank", "binary", "png"],
)
def test_unreadable_files_are_one_clear_fatal_error(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(FatalSourceError, match=message):
        CsvFile(write(tmp_path, data))


def test_missing_file_and_directory_are_fatal(tmp_path: Path) -> None:
    with pytest.raises(FatalSourceError, match="no such file"):
        CsvFile(tmp_path / "nope.csv")
    with pytest.raises(FatalSourceError, match="directory"):
        CsvFile(tmp_path)


def test_header_only_file_has_no_records(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, b"Email,First Name\n")) == []
