"""The column survey read plainly (many lines at a time) finds what reading record by record finds."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from connectors.csv import CsvStream
from sync.jobs.csv import choose_layout, survey_columns
from sync.mapping import ColumnSurvey, bind_layout

MAPPING = """
kind = "customers"
source = "t"
id = "id"
{extra}
[fields]
email = "email"
birthday = "born"
"""

_ids = st.sampled_from(
    ["", " ", "123456", "7.06971E+12", " 7,1e+5 ", "001Ab00000AbcdE", "001Ab00000AbcdEAAA", "x+y"]
)
_dates = st.sampled_from(
    ["", "13/02/1990", "02/13/1990", "01/02/1990", " 31.12.99 ", "1990-02-13", "5-6-07", "x"]
)
_rows = st.lists(st.tuples(_ids, _dates), max_size=30)


def _surveys(text: str, extra: str) -> tuple[ColumnSurvey, ColumnSurvey]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_text(text, newline="")
        mapping = Path(tmp) / "m.toml"
        mapping.write_text(MAPPING.format(extra=extra))
        layout = choose_layout(path, "customers", None, mapping)
        stream = CsvStream(path, "t", "CSV", "customers")
        layout, _ = bind_layout(layout, stream.file.layout.header, stream.file.layout.duplicates)
        plain = survey_columns(stream, layout.spec)
        each = ColumnSurvey(layout.spec, stream.file.layout.header)
        for row in stream.file.read():
            if row.cells is not None:
                each.add(row.cells)
    return plain, each


@given(
    _rows, st.sampled_from(["", 'id_format = "salesforce"']), st.sampled_from(["\n", "\r\n"]), st.booleans()
)
def test_the_plain_survey_finds_what_the_record_survey_finds(
    rows: list[tuple[str, str]], extra: str, end: str, quoted: bool
) -> None:
    lines = ["id,email,born", *(f"{i},a@example.com,{d}" for i, d in rows)]
    if quoted:
        lines.append('"9",b@example.com,"13/01/2000"')  # read by the csv module: the survey too
    plain, each = _surveys(end.join(lines) + end, extra)
    assert plain.date_orders() == each.date_orders()
    assert plain.id_damage() == each.id_damage()


def test_a_proof_on_the_last_line_and_a_rounded_id_are_found_plainly() -> None:
    body = "".join(f"{i},p{i}@example.com,01/02/1990\n" for i in range(20000))
    plain, _ = _surveys(f"id,email,born\n{body}7.02255E+12,z@example.com,02/13/1990\n", "")
    assert plain.date_orders() == {"born": "month-first"}
    damage = plain.id_damage()["columns"]["id"]
    assert (damage["why"], damage["rows"], damage["example"]) == ("rounded", 20001, "7.02255E+12")
