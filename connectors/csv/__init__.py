"""CSV exports, read streamed: encoding and delimiter sniffing, one `SourceRecord` per row."""

from __future__ import annotations

from connectors.csv.chunks import ByteRange, CsvRangeStream, can_split, split_rows
from connectors.csv.reader import CsvFile, CsvLayout, detect_encoding
from connectors.csv.stream import CsvStream

__all__ = [
    "ByteRange",
    "CsvFile",
    "CsvLayout",
    "CsvRangeStream",
    "CsvStream",
    "can_split",
    "detect_encoding",
    "split_rows",
]
