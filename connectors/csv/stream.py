"""The CSV stream: rows of a file as `SourceRecord`s, wrong-width rows as `ReadError`s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import (
    ReadError,
    ReadWarning,
    RecordText,
    SourceRecord,
    SourceWarning,
    Stream,
    StreamContext,
)
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
        # The ids the file reads on more than one line -> the last line of each, once a pass
        # found them (None: not looked for yet).
        self.repeated_ids: dict[str, int] | None = None
        self.file = CsvFile(path)
        # Every column has a name: a row's fields are its cells zipped on the header.
        self._named = all(self.file.layout.header)
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

    def lazy_records(
        self, ctx: StreamContext
    ) -> Iterator[SourceRecord | RecordText | ReadError | SourceWarning]:
        """`records`, each line of the file's plain part (`CsvFile.read_unsplit`) a `RecordText`.

        Blank lines are left out here, as `records` leaves them out: the items are the same,
        one for one, so a resume counts them alike.
        """
        delimiter = self.file.layout.delimiter or ","  # as `CsvFile.read` splits
        split = self._split_text
        yield from self._header_items()
        for part in self.file.read_unsplit():
            if type(part) is CsvRow:
                item = self._item(part)
                if item is not None:
                    yield item
                continue
            number = part.first  # type: ignore[union-attr]  # a PlainLines
            for text in part.lines:  # type: ignore[union-attr]
                # Blank when its cells, `text.split(delimiter)`, are all blank (`_item`'s test).
                if (not text or text[0] == delimiter or text[0].isspace()) and not text.replace(
                    delimiter, ""
                ).strip():
                    number += 1
                    continue
                yield RecordText(number, text, split)
                number += 1

    def _split_text(self, line: int, text: str) -> SourceRecord | ReadError:
        """The item `records` gives for the plain line `text` (not blank)."""
        cells = text.split(self.file.layout.delimiter or ",") if text else []
        item = self._item(CsvRow(line, cells, raw=text))
        assert item is not None, "lazy_records leaves blank lines out"
        return item

    def _header_items(self) -> Iterator[SourceWarning]:
        # Items of their own, not notes on the first record: a re-run skips that record as
        # unchanged, and would drop them with it. A resume counts them among the items it
        # had committed, so they are said once per run all the same.
        for warning in self.header_warnings():
            yield SourceWarning(warning.reason, warning.message, position=warning.position)

    def _records_from(
        self, rows: Iterator[CsvRow], *, header_warnings: bool
    ) -> Iterator[SourceRecord | ReadError | SourceWarning]:
        if header_warnings:
            yield from self._header_items()
        item = self._item
        for row in rows:
            record = item(row)
            if record is not None:
                yield record

    def _item(self, row: CsvRow) -> SourceRecord | ReadError | None:
        """The item for one row of the file: its record, why it is unreadable, or None if blank."""
        layout = self.file.layout
        header = layout.header
        delimiter = layout.delimiter
        cells = row.cells
        if cells is None:
            reason, message = row.notes[0]
            return ReadError(row.line, reason, message)
        raw = row.raw
        lead = raw[:1]
        # A row that starts with anything but a delimiter or a space is not blank: the join
        # of its cells is only needed for the others.
        if (not lead or lead == delimiter or lead.isspace() or lead == '"') and not "".join(cells).strip():
            return None  # blank lines are not records
        if len(cells) != len(header):
            return ReadError(
                row.line,
                "column_count",
                f"line {row.line} has {len(cells)} columns, the header has {len(header)}",
                delimiter.join(cells)[:1000],
            )
        warnings = [ReadWarning(reason, message) for reason, message in row.notes]
        if self._named and ("'" not in raw or "\x1f'" not in "\x1f" + "\x1f".join(cells)):
            # No cell starts with an apostrophe: the C zip, not a call per cell.
            fields = dict(zip(header, cells, strict=True))
        else:
            fields = {h: _excel_cell(c) for h, c in zip(header, cells, strict=True) if h}
        return SourceRecord(source_id=None, fields=fields, position=row.line, warnings=warnings, raw=raw)

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
