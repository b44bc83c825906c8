"""What a file's columns show only as a whole: the order of their dates, and ids a spreadsheet damaged."""

from __future__ import annotations

from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any

from sync.mapping.normalize import DateOrderVote, salesforce_id_18, spreadsheet_rounded
from sync.mapping.raw import spec_fingerprint
from sync.mapping.repeats import RepeatFinder, Repeats
from sync.mapping.spec import KIND_FIELDS, MappingSpec, header_key

# A column of 15-character Salesforce ids has lost its case when this many letters among the
# ids' last three characters (the ones that change from record to record) are all one case.
# In real ids a letter there is upper or lower case about as often, so 12 of one case happen
# by chance about once in 2,000 columns; fewer letters than that prove nothing.
CASE_EVIDENCE_LETTERS = 12

# Bump when a survey can find something else in the same file under the same spec: a run then
# surveys its file again instead of taking what an earlier run found (`survey_key`).
SURVEY_VERSION = "1"


@dataclass(slots=True)
class _IdColumn:
    """What one id column's values showed."""

    name: str
    rows: int = 0
    rounded: str | None = None  # the first value in scientific notation
    upper: int = 0  # letters, in the last three characters of 15-character ids
    lower: int = 0
    others: int = 0  # values that are not 15-character ids
    restored: int = 0  # 18-character ids whose case came back from their suffix

    def add(self, value: str, salesforce: bool) -> None:
        value = value.strip()
        if not value:
            return
        self.rows += 1
        if self.rounded is None and spreadsheet_rounded(value):
            self.rounded = value
        if not salesforce:
            return
        if len(value) == 15 and value.isalnum():
            tail = value[-3:]
            self.upper += sum(ch.isupper() for ch in tail)
            self.lower += sum(ch.islower() for ch in tail)
        else:
            self.others += 1
            if len(value) == 18 and salesforce_id_18(value) != value:
                self.restored += 1

    def add_all(self, values: list[str], salesforce: bool) -> None:
        """`add` each of `values`, in order: the same findings, with C loops where they do."""
        if salesforce:
            for value in values:
                self.add(value, True)
            return
        # Blank values (empty or all whitespace, what `strip` empties) are not counted.
        self.rows += len(values) - values.count("") - sum(map(str.isspace, values))
        if self.rounded is None:
            joined = "\x00".join(values)
            # Scientific notation has an `E+` (either case): most blocks hold none.
            if "E+" in joined or "e+" in joined:
                for value in values:
                    if spreadsheet_rounded(value):
                        self.rounded = value.strip()
                        break

    def damage(self) -> str | None:
        """Why the column cannot be keyed on, or None when it can."""
        if self.rounded is not None:
            return "rounded"
        letters = self.upper + self.lower
        if letters >= CASE_EVIDENCE_LETTERS and not self.others and not (self.upper and self.lower):
            return "case"
        return None


class ColumnSurvey:
    """Fed every row of a file once, before the import: evidence that no single row carries.

    A date column's day/month order may be proven on its last line; an id column whose values
    show scientific notation anywhere has lost digits everywhere.
    """

    def __init__(self, spec: MappingSpec, header: list[str], *, repeats: bool = False) -> None:
        index = {header_key(h): i for i, h in enumerate(header)}
        dated = [
            column
            for documented, (_, how) in KIND_FIELDS[spec.kind].items()
            if how in ("date", "datetime")
            for column in spec.fields.get(documented, [])
        ]
        self.dates = {
            i: (header[i], DateOrderVote())
            for column in [*dated, *spec.modstamp_columns]
            if (i := index.get(header_key(column))) is not None
        }
        # Only customers have a key to fall back on (their e-mail or phone).
        id_columns = spec.id_columns if spec.kind == "customers" else []
        self.ids = {
            i: _IdColumn(header[i])
            for column in id_columns
            if (i := index.get(header_key(column))) is not None
        }
        self.salesforce = spec.id_format == "salesforce"
        self.width = len(header)
        # With `repeats`, the same pass finds the ids the file reads more than once.
        self.finder = RepeatFinder.for_spec(spec, header) if repeats else None

    @property
    def wanted(self) -> bool:
        """Whether the file has any column worth reading through."""
        return bool(self.dates or self.ids)

    def add(self, cells: list[str], line: int = 0) -> None:
        if len(cells) != self.width:
            return
        for i, (_, vote) in self.dates.items():
            vote.add(cells[i])
        for i, column in self.ids.items():
            column.add(cells[i], self.salesforce)
        if self.finder is not None:
            self.finder.add(line, cells)

    def add_lines(self, first: int, lines: list[str], delimiter: str) -> None:
        """`add` each of these plain lines (no quotes), numbered from `first`, a column at a time.

        Each line is split only as far as the last surveyed column (rows of the wrong width are
        told by counting delimiters, in C), so most of a line's cells are never made. Each date
        column's distinct values are voted on once (the order a column proves does not depend
        on how often a value repeats), each id column's values checked with C loops.
        """
        wanted = max([*self.dates, *self.ids], default=0)
        commas = self.width - 1
        numbers = [n for n, line in enumerate(lines, first) if line and line.count(delimiter) == commas]
        rows = [lines[n - first].split(delimiter, wanted + 1) for n in numbers]
        self._add_columns(rows)
        if self.finder is not None and rows:
            self.finder.add_rows(numbers, rows)

    def repeats(self) -> Repeats:
        """The ids the rows read more than once (`Repeats`); none unless asked for."""
        return self.finder.repeats() if self.finder is not None else Repeats()

    def _add_columns(self, rows: list[list[str]]) -> None:
        """Rows of the header's width (cut after the last surveyed column), a column at a time."""
        if not rows:
            return
        for i, (_, vote) in self.dates.items():
            if vote.day_first and vote.month_first:
                continue  # a column that contradicts itself stays so
            for value in set(map(itemgetter(i), rows)):
                vote.add(value)
        for i, column in self.ids.items():
            column.add_all(list(map(itemgetter(i), rows)), self.salesforce)

    def date_orders(self) -> dict[str, str]:
        """Per date column, the order its values prove (header key -> order)."""
        return {header_key(name): order for name, vote in self.dates.values() if (order := vote.order())}

    def id_damage(self) -> dict[str, Any]:
        """The id columns not to key on and why, and how many ids had their case restored (JSON-safe)."""
        columns: dict[str, Any] = {}
        restored = 0
        for column in self.ids.values():
            why = column.damage()
            if why is None:
                restored += column.restored
                continue
            columns[header_key(column.name)] = {
                "column": column.name,
                "why": why,
                "rows": column.rows,
                "example": column.rounded,
            }
        return {"columns": columns, "restored": restored} if columns or restored else {}


def survey_key(file_sha256: str, spec: MappingSpec) -> str:
    """What decides everything a survey finds, as one string: the file's bytes (their SHA-256) and
    the spec its columns are read under (`spec_fingerprint`, before the survey is applied).

    Two runs with the same key would survey alike, so the later one takes what the earlier found.
    """
    return f"{SURVEY_VERSION}:{spec_fingerprint(spec)}:{file_sha256}"


def apply_survey(spec: MappingSpec, date_orders: dict[str, str], id_damage: dict[str, Any]) -> MappingSpec:
    """The spec with each date column's order, keyed no longer on damaged id columns."""
    damaged = set(id_damage.get("columns", {}))
    ids = [c for c in spec.id_columns if header_key(c) not in damaged]
    return replace(spec, date_orders=date_orders, id_columns=ids)


def damaged_id_warning(id_damage: dict[str, Any]) -> tuple[str, str] | None:
    """The one `damaged_id` warning a run gives (reason, message), with the count of rows; None if none."""
    columns = id_damage.get("columns", {})
    restored = int(id_damage.get("restored", 0))
    if not columns and not restored:
        return None
    parts = []
    for damage in columns.values():
        if damage["why"] == "rounded":
            how = f"holds numbers a spreadsheet wrote in scientific notation ({damage['example']!r}), their digits lost"
        else:
            how = "holds Salesforce ids that lost their upper/lower case, so two records can share one"
        parts.append(
            f"id column {damage['column']!r} {how}: its {damage['rows']} rows are keyed on their e-mail or phone instead"
        )
    if restored:
        parts.append(
            f"{restored} 18-character Salesforce ids had lost their case, restored from their suffix"
        )
    count = restored + sum(int(d["rows"]) for d in columns.values())
    return "damaged_id", f"{count} damaged ids: " + "; ".join(parts)
