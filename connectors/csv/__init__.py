"""CSV exports, read streamed: encoding and delimiter sniffing, one `SourceRecord` per row."""

from __future__ import annotations

from connectors.csv.chunks import ByteRange, CsvRangeStream, can_split, split_rows
from connectors.csv.reader import (
    STDIN,
    CsvFile,
    CsvLayout,
    CsvRow,
    NotPlainError,
    check_regular_file,
    detect_encoding,
    local_copy,
)
from connectors.csv.stream import CsvStream

__all__ = [
    "STDIN",
    "ByteRange",
    "CsvFile",
    "CsvLayout",
    "CsvRangeStream",
    "CsvRow",
    "CsvStream",
    "NotPlainError",
    "can_split",
    "check_regular_file",
    "detect_encoding",
    "local_copy",
    "split_rows",
]
