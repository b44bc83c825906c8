"""The CSV stream: rows of a file as `SourceRecord`s, wrong-width rows as `ReadError`s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import ReadError, SourceRecord, Stream, StreamContext
from connectors.csv.reader import CsvFile


def _excel_cell(value: str) -> str:
    # Excel users type a leading apostrophe to keep "007" or "+49…" as text; it is not data.
    return value[1:] if value.startswith("'") else value


class CsvStream(Stream):
    """One CSV export, read once from top to bottom; its position is the file line."""

    source: ClassVar[str] = "csv"
    name: ClassVar[str] = "file"
    replication_key: ClassVar[str | None] = None
    resume_by_skip: ClassVar[bool] = True

    def __init__(
        self,
        path: Path,
        source_name: str,
        entity_source: str,
        kind: str,
        layout_ref: dict[str, str] | None = None,
    ) -> None:
        super().__init__(source_name)
        self.path = path
        # How the layout was chosen ({"preset": …} or {"mapping": …}), so a resume can redo it.
        self.layout_ref = layout_ref or {}
        self.file = CsvFile(path)
        self.entity_source = entity_source
        self.kind = kind  # type: ignore[misc]

    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError]:
        return self._records_from(self.file.rows())

    def _records_from(self, rows: Iterator[tuple[int, list[str]]]) -> Iterator[SourceRecord | ReadError]:
        header = self.file.layout.header
        width = len(header)
        for line, cells in rows:
            if not any(c.strip() for c in cells):
                continue  # blank lines are not records
            if len(cells) != width:
                yield ReadError(
                    line,
                    "column_count",
                    f"line {line} has {len(cells)} columns, the header has {width}",
                    self.file.layout.delimiter.join(cells)[:1000],
                )
                continue
            yield SourceRecord(
                source_id=None,
                fields={h: _excel_cell(c) for h, c in zip(header, cells, strict=True) if h},
                position=line,
            )

    def progress(self) -> tuple[int, int]:
        return self.file.bytes_read(), self.file.size

    def describe(self) -> dict[str, Any]:
        layout = self.file.layout
        return {
            "path": str(self.path.resolve()),
            "kind": self.kind,
            "encoding": layout.encoding,
            "delimiter": layout.delimiter,
            "sha256": self.file.sha256(),
            **self.layout_ref,
        }
