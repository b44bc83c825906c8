"""The CSV stream: rows of a file as `SourceRecord`s, wrong-width rows as `ReadError`s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import ReadError, ReadWarning, SourceRecord, SourceWarning, Stream, StreamContext
from connectors.csv.reader import STDIN, CsvFile, CsvRow


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
        layout_ref: dict[str, Any] | None = None,
        origin: str | None = None,
    ) -> None:
        super().__init__(source_name)
        self.path = path
        # What the person named: `-` for standard input (read from its spooled copy, `path`).
        self.origin = origin
        # How the layout was chosen ({"preset": …} or {"mapping": …}), so a resume can redo it.
        self.layout_ref = layout_ref or {}
        # What the file says once as a whole (e.g. ids a spreadsheet damaged), beside the header's own.
        self.file_warnings: list[ReadWarning] = []
        self.file = CsvFile(path)
        self.entity_source = entity_source
        self.kind = kind  # type: ignore[misc]

    def header_warnings(self) -> list[ReadWarning]:
        """What is said once for the whole file: repeated column names, and `file_warnings`."""
        duplicates = self.file.layout.duplicates
        if not duplicates:
            return list(self.file_warnings)
        names = ", ".join(f"{orig!r} (again as {dup!r})" for dup, orig in duplicates.items())
        return [
            ReadWarning(
                "duplicate_header",
                f"the header repeats {names}: the first non-empty value is used, the other kept in extraInfo",
                position=1,
            ),
            *self.file_warnings,
        ]

    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError | SourceWarning]:
        return self._records_from(self.file.read(), header_warnings=True)

    def _records_from(
        self, rows: Iterator[CsvRow], *, header_warnings: bool
    ) -> Iterator[SourceRecord | ReadError | SourceWarning]:
        layout = self.file.layout
        header = layout.header
        width = len(header)
        delimiter = layout.delimiter
        named = all(header)  # every column has a name: a row's fields are its cells zipped on
        if header_warnings:
            # Items of their own, not notes on the first record: a re-run skips that record
            # as unchanged, and would drop them with it. A resume counts them among the items
            # it had committed, so they are said once per run all the same.
            for warning in self.header_warnings():
                yield SourceWarning(warning.reason, warning.message, position=warning.position)
        for row in rows:
            cells = row.cells
            if cells is None:
                reason, message = row.notes[0]
                yield ReadError(row.line, reason, message)
                continue
            raw = row.raw
            lead = raw[:1]
            # A row that starts with anything but a delimiter or a space is not blank: the
            # join of its cells is only needed for the others.
            if (not lead or lead == delimiter or lead.isspace() or lead == '"') and not "".join(
                cells
            ).strip():
                continue  # blank lines are not records
            if len(cells) != width:
                yield ReadError(
                    row.line,
                    "column_count",
                    f"line {row.line} has {len(cells)} columns, the header has {width}",
                    layout.delimiter.join(cells)[:1000],
                )
                continue
            warnings = [ReadWarning(reason, message) for reason, message in row.notes]
            if named and ("'" not in raw or "\x1f'" not in "\x1f" + "\x1f".join(cells)):
                # No cell starts with an apostrophe: the C zip, not a call per cell.
                fields = dict(zip(header, cells, strict=True))
            else:
                fields = {h: _excel_cell(c) for h, c in zip(header, cells, strict=True) if h}
            yield SourceRecord(source_id=None, fields=fields, position=row.line, warnings=warnings, raw=raw)

    def raw_context(self) -> str:
        """The delimiter and the header: a row's text means other fields under another header."""
        layout = self.file.layout
        return "\x1f".join([layout.delimiter, *layout.header])

    def progress(self) -> tuple[int, int]:
        return self.file.bytes_read(), self.file.size

    def describe(self) -> dict[str, Any]:
        layout = self.file.layout
        return {
            "path": STDIN if self.origin == STDIN else str(self.path.resolve()),
            "kind": self.kind,
            "encoding": layout.encoding,
            "delimiter": layout.delimiter,
            "sha256": self.file.sha256(),
            **self.layout_ref,
        }
