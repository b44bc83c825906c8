"""Any sequence of files claiming, dropping and swapping e-mails imports: every run succeeds,
its counts add up, and no two customers hold one address."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from models import get_engine
from tests.conftest import truncate_all
from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows

HEADER = "entitySourceId,email,firstname,updatedAt,deleted"

# Few ids and fewer addresses, so they are claimed, refused, dropped and given up; stamps in
# any order or none; deletes; three sources of different priority.
_line = st.tuples(
    st.sampled_from(["i0", "i1", "i2", "i3"]),
    st.sampled_from(["m0@example.com", "m1@example.com", "m2@example.com", ""]),
    st.sampled_from(["Ann", "Bob"]),
    st.sampled_from(
        ["", "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00"]
    ),
    st.sampled_from(["", "", "", "", "true"]),
)
_file = st.tuples(st.sampled_from(["hi", "mid", "lo"]), st.lists(_line, min_size=1, max_size=3))
PRIORITY = {"hi": 90, "mid": 50, "lo": 10}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(_file, min_size=3, max_size=6), batch_size=st.sampled_from([1, 2, 5000]))
# Found by review's random sequences: an outside holder's old conflict reported for the batch
# (KeyError), and a customer moving to an address whose holder had not been read (two
# customers with one address: the unique index refused the write on every re-run).
@example(
    files=[
        ("hi", [("i2", "m0@example.com", "Ann", "", ""), ("i3", "m1@example.com", "Bob", "", "")]),
        (
            "hi",
            [
                ("i2", "m0@example.com", "Ann", "", "true"),
                ("i4", "m1@example.com", "Ann", "", ""),
                ("i2", "m3@example.com", "Ann", "", ""),
                ("i3", "m3@example.com", "Bob", "", ""),
            ],
        ),
        ("mid", [("i3", "m3@example.com", "Bob", "", "")]),
        ("mid", [("i3", "m1@example.com", "Bob", "", "")]),
    ],
    batch_size=1,
)
@example(
    files=[
        ("hi", [("a", "m3@example.com", "Ann", "", "")]),
        ("hi", [("b", "m2@example.com", "Bob", "", "")]),
        ("hi", [("b", "m3@example.com", "Bob", "", "")]),
        ("hi", [("d", "m0@example.com", "Ann", "", "")]),
        ("hi", [("d", "m2@example.com", "Ann", "", "")]),
    ],
    batch_size=5000,
)
def test_every_sequence_of_files_imports_and_no_address_is_held_twice(
    sqlite_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    files: list[tuple[str, list[tuple[str, ...]]]],
    batch_size: int,
) -> None:
    folder = tmp_path_factory.mktemp("files")
    truncate_all(get_engine(sqlite_url))
    with capture_logs():
        for i, (source, lines) in enumerate(files):
            path = folder / f"f{i}.csv"
            path.write_text("\n".join([HEADER, *(",".join(line) for line in lines)]) + "\n")
            summary = run_csv(
                sqlite_url,
                path,
                batch_size=batch_size,
                preset_name="native",
                source_name=source,
                source_priority=PRIORITY,
            )
            assert summary.status == "succeeded", summary.error
            assert_counts_add_up(summary)
    held = [r["email"] for r in table_rows(sqlite_url, "customer") if r["email"]]
    assert len(held) == len(set(held))
