"""The pass before a run finds exactly the ids a file reads on more than one line, and the last line of each."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from bench.exports import CUSTOMER_HEADER, customer_rows
from bench.imports import MAPPING as BENCH_MAPPING
from connectors import SourceRecord
from connectors.csv import CsvStream
from sync.jobs.csv import choose_layout, find_repeats, survey_columns
from sync.mapping import ColumnSurvey, MappingSpec, Repeats, bind_layout, load_mapping, record_source_id
from sync.mapping.repeats import RepeatFinder

MAPPING = """
kind = "customers"
source = "t"
id = {ids}
{extra}
[fields]
email = "email"
birthday = "born"
"""

# Values that read as the same id in several spellings: spaces, an apostrophe, an invisible
# character, a Salesforce id in its 15- and 18-character forms and another case, blanks.
_ids = st.sampled_from(
    [
        "",
        " ",
        "A1",
        " A1",
        "A1 ",
        "'A1",
        "A  1",
        "A 1",
        "A1\u200b",
        "n/a",
        "001Ab00000AbcdE",
        "001Ab00000AbcdEAAA",
        "001AB00000ABCDEAAA",
        "001ab00000abcde",
        "B2",
    ]
)
_rows = st.lists(st.tuples(_ids, _ids, st.booleans()), max_size=25)


def _truth(stream: CsvStream, spec: MappingSpec) -> dict[str, int]:
    """Each id `map_record` reads on two lines or more, with its last line (records read one by one)."""
    lines: dict[str, list[int]] = {}
    for item in stream.records(None):  # type: ignore[arg-type]  # a CSV stream reads no context
        if isinstance(item, SourceRecord):
            source_id = record_source_id(item, spec)
            if source_id is not None:
                lines.setdefault(source_id, []).append(item.position or 0)
    return {sid: max(found) for sid, found in lines.items() if len(found) > 1}


def _exactly(found: Repeats, truth: dict[str, int], counts: Counter[str]) -> None:
    repeated = {sid: line for sid, line in found.last.items() if counts[sid] > 1}
    assert repeated == truth
    # Anything else is a collision in the filter: an id read once, on that line.
    assert all(counts[sid] == 1 for sid in found.last.keys() - truth.keys())


# The first two columns' names and the id columns the mapping names: one id column, two, or
# one the header names twice (its repeat is then read as the next id column).
_ID_HEADERS = {"one": ("id,alt", '"id"'), "two": ("id,alt", '["id", "alt"]'), "repeated": ("id,id", '"id"')}


@given(
    _rows,
    st.sampled_from(["", 'id_format = "salesforce"', 'blank_values = ["n/a"]']),
    st.sampled_from(sorted(_ID_HEADERS)),
)
@example([("A1", "", False), ("'A1", "", True), (" A1", "", False)], "", "one")
@example(
    [("001Ab00000AbcdE", "", False), ("001AB00000ABCDEAAA", "", False)], 'id_format = "salesforce"', "one"
)
@example([("", "A1", False), ("A1", "B2", False), (" ", "'A1", True)], "", "repeated")
def test_the_pass_finds_the_ids_map_record_reads_twice(
    rows: list[tuple[str, str, bool]], extra: str, id_header: str
) -> None:
    names, ids = _ID_HEADERS[id_header]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        # A quoted line turns the rest of the file to the csv module: both readings are checked.
        lines = [f"{names},email,born"]
        lines += [
            f'"{a}",{b},x@example.com,' if quoted else f"{a},{b},x@example.com," for a, b, quoted in rows
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        mapping = Path(tmp) / "m.toml"
        mapping.write_text(MAPPING.format(ids=ids, extra=extra))
        layout = choose_layout(path, "customers", None, mapping)
        stream = CsvStream(path, "t", "CSV", "customers")
        layout, _ = bind_layout(layout, stream.file.layout.header, stream.file.layout.duplicates)
        spec = layout.spec
        truth = _truth(stream, spec)
        counts: Counter[str] = Counter()
        for item in stream.records(None):  # type: ignore[arg-type]
            if isinstance(item, SourceRecord) and (sid := record_source_id(item, spec)) is not None:
                counts[sid] += 1

        _exactly(find_repeats(stream, spec), truth, counts)
        _exactly(survey_columns(stream, spec, repeats=True).repeats(), truth, counts)
        each = ColumnSurvey(spec, stream.file.layout.header, repeats=True)
        for row in stream.file.read():
            if row.cells is not None:
                each.add(row.cells, row.line)
        _exactly(each.repeats(), truth, counts)


def test_a_file_of_distinct_ids_names_almost_none() -> None:
    """Two bits per id: of 100,000 distinct ids about none collide (one bit per id named ~40),
    so a file without repeats holds nothing back and its repeats stay small enough to record."""
    finder = RepeatFinder(load_mapping(BENCH_MAPPING).spec, CUSTOMER_HEADER)
    lines = [",".join(row) for row in customer_rows(100_000)]
    for start in range(0, len(lines), 20_000):
        finder.add_lines(2 + start, lines[start : start + 20_000], ",")
    assert len(finder.repeats().last) <= 10
