"""CSV exports, read streamed: encoding and delimiter sniffing, one `SourceRecord` per row."""

from __future__ import annotations

from connectors.csv.reader import CsvFile, CsvLayout, detect_encoding
from connectors.csv.stream import CsvStream

__all__ = ["CsvFile", "CsvLayout", "CsvStream", "detect_encoding"]
