"""CSV exports: streamed reading, presets for common exports, and mapping files."""

from __future__ import annotations

from connectors.csv.layouts import (
    PRESETS,
    Layout,
    detect_layout,
    load_mapping,
    native_layout,
    preset,
)
from connectors.csv.reader import CsvFile, CsvLayout, detect_encoding
from connectors.csv.stream import CsvStream

__all__ = [
    "PRESETS",
    "CsvFile",
    "CsvLayout",
    "CsvStream",
    "Layout",
    "detect_encoding",
    "detect_layout",
    "load_mapping",
    "native_layout",
    "preset",
]
