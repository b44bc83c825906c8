"""Property: any well-formed export, in any encoding, line end, quoting and delimiter, round-trips."""

from __future__ import annotations

import codecs
import csv
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import get_engine
from sync.mapping import clean_text
from tests.conftest import truncate_all
from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows

# Names as Windows and Mac exports hold them: Latin-1 letters both cp1252 and Mac Roman can
# write, capitalised words. (Which of the two a file is cannot be told from arbitrary
# symbols; it can from names, and names are what these files carry.)
# Left out: À, Ã, Õ, whose Mac Roman bytes are cp1252's Ë, Ì, Í; a word that starts with one and
# has nothing else to go by reads either way, and such a file is taken for cp1252.
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZÁÂÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÖØÙÚÛÜ"
LOWER = "abcdefghijklmnopqrstuvwxyzàáâãäåæçèéêëìíîïñòóôõöøùúûüÿß"
word = st.builds(lambda a, b: a + b, st.sampled_from(UPPER), st.text(LOWER, min_size=1, max_size=8))
latin_name = st.lists(word, min_size=1, max_size=3).map(" ".join)

# Anything Unicode can hold that a person could type in a cell (clean_text leaves it as is).
unicode_name = st.text(
    st.characters(categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="'"),
    min_size=1,
    max_size=24,
).filter(lambda v: clean_text(v) == v and not v.startswith(("'", "\ufeff")))

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "cp1252", "mac_roman"]


@st.composite
def exports(draw: st.DrawFn) -> dict[str, Any]:
    encoding = draw(st.sampled_from(ENCODINGS))
    names = latin_name if encoding in ("cp1252", "mac_roman") else unicode_name
    street = st.lists(names, min_size=1, max_size=3).map("\n".join)
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "firstname": names,
                    "lastname": st.one_of(st.just(""), names),
                    "city": st.one_of(st.just(""), names),
                    "street": st.one_of(st.just(""), street),
                }
            ),
            min_size=1,
            max_size=12,
        )
    )
    for i, row in enumerate(rows):
        row["email"] = f"person{i}@example.com"
    return {
        "encoding": encoding,
        "rows": rows,
        "line_end": draw(st.sampled_from(["\n", "\r\n", "\r"])),
        "delimiter": draw(st.sampled_from([",", ";", "\t", "|"])),
        "quoting": draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        "bom": draw(st.booleans()),
    }


def render(export: dict[str, Any]) -> bytes:
    # Written by hand: the csv module leaves a `\n` unquoted when the line end is `\r`,
    # which no spreadsheet does.
    delimiter = export["delimiter"]

    def cell(value: str) -> str:
        if export["quoting"] == csv.QUOTE_ALL or any(c in value for c in (delimiter, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    columns = ["email", "firstname", "lastname", "city", "street"]
    lines = [columns, *([row[c] for c in columns] for row in export["rows"])]
    text = "".join(delimiter.join(cell(v) for v in line) + export["line_end"] for line in lines)
    data = text.encode(export["encoding"])
    if export["bom"] and export["encoding"] == "utf-8":
        data = codecs.BOM_UTF8 + data
    return data


def _extra(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_every_row_is_accounted_for_and_every_value_comes_back(
    store: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue("pg_url" if store == "postgres" else "sqlite_url")

    @settings(
        max_examples=30 if store == "sqlite" else 8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(export=exports())
    def roundtrip(export: dict[str, Any]) -> None:
        truncate_all(get_engine(url))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "export.csv"
            path.write_bytes(render(export))
            summary = run_csv(url, path)
        assert_counts_add_up(summary)
        assert summary.counts["read"] == len(export["rows"])
        assert summary.counts["created"] == len(export["rows"]), summary.counts
        assert summary.counts["warnings"] == 0, summary.counts
        stored = {r["email"]: r for r in table_rows(url, "customer")}
        for row in export["rows"]:
            customer = stored[row["email"]]
            got = (customer["firstname"], customer["lastname"], customer["city"], customer["street"])
            assert got == (row["firstname"], row["lastname"], row["city"] or None, row["street"] or None)
            assert _extra(customer["extra_info"]) == {}

    roundtrip()
