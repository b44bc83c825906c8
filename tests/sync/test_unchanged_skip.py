"""A re-import skips rows it already holds exactly as read, before mapping them; counts still add up."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import sync.pipeline.mapper as mapper_module
from bench.exports import CUSTOMER_HEADER, customer_rows, write_csv
from models import get_engine
from sync.jobs import import_csv, resume_csv
from sync.mapping import Draft, Issue, MappingSpec, map_record
from sync.pipeline import new_run_id
from tests.sync.helpers import assert_counts_add_up, run_csv, settings_for, table_rows

MAPPING = Path(__file__).parents[2] / "bench" / "customers.toml"
ROWS = 300


@pytest.fixture
def mapped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the records mapped, in order; mapped inline, so that this process sees them."""
    monkeypatch.setenv("MAPPING_WORKERS", "0")
    seen: list[str] = []

    def counting(record: object, spec: MappingSpec) -> Draft | Issue:
        result = map_record(record, spec)  # type: ignore[arg-type]
        seen.append(str(record.fields.get("id")))  # type: ignore[attr-defined]
        return result

    monkeypatch.setattr(mapper_module, "map_record", counting)
    return seen


def test_an_unchanged_re_import_maps_nothing_and_writes_nothing(
    db_url: str, tmp_path: Path, mapped: list[str]
) -> None:
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, customer_rows(ROWS))
    first = run_csv(db_url, path, batch_size=100, mapping=MAPPING)
    assert first.counts["created"] == ROWS and len(mapped) == ROWS
    before = (table_rows(db_url, "customer"), table_rows(db_url, "customer_source"))
    assert all(r["raw_hash"] for r in before[1])

    mapped.clear()
    again = run_csv(db_url, path, batch_size=100, mapping=MAPPING)
    assert_counts_add_up(again)
    assert (again.counts["read"], again.counts["unchanged"], again.counts["updated"]) == (ROWS, ROWS, 0)
    assert mapped == []
    assert (table_rows(db_url, "customer"), table_rows(db_url, "customer_source")) == before


def test_only_the_changed_rows_are_mapped_and_written(db_url: str, tmp_path: Path, mapped: list[str]) -> None:
    run_csv(db_url, write_csv(tmp_path / "a.csv", CUSTOMER_HEADER, customer_rows(ROWS)), mapping=MAPPING)
    mapped.clear()
    changed = write_csv(tmp_path / "b.csv", CUSTOMER_HEADER, customer_rows(ROWS, changed_every=50))
    summary = run_csv(db_url, changed, batch_size=100, mapping=MAPPING)
    assert_counts_add_up(summary)
    moved = [str(1_000_000 + i) for i in range(0, ROWS, 50)]
    assert mapped == moved
    assert (summary.counts["updated"], summary.counts["unchanged"]) == (len(moved), ROWS - len(moved))
    streets = {r["entity_source_id"]: r["street"] for r in table_rows(db_url, "customer")}
    assert all(streets[sid].endswith("(moved)") for sid in moved)

    # And the changed file once more: now every row is skipped.
    mapped.clear()
    assert run_csv(db_url, changed, mapping=MAPPING).counts["unchanged"] == ROWS
    assert mapped == []


def test_another_mapping_of_the_same_file_maps_every_row_again(
    db_url: str, tmp_path: Path, mapped: list[str]
) -> None:
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, customer_rows(50))
    run_csv(db_url, path, mapping=MAPPING)
    other = tmp_path / "other.toml"
    other.write_text(MAPPING.read_text("utf-8").replace('city = "city"\n', ""), encoding="utf-8")
    mapped.clear()
    summary = run_csv(db_url, path, mapping=other, source_name="bench")
    assert len(mapped) == 50
    assert_counts_add_up(summary)
    assert summary.counts["updated"] == 50  # the city is no longer mapped
    assert all(r["city"] is None for r in table_rows(db_url, "customer"))


def test_a_row_read_twice_in_one_run_is_a_duplicate_even_when_skipped(
    db_url: str, tmp_path: Path, mapped: list[str]
) -> None:
    rows = list(customer_rows(20))
    run_csv(db_url, write_csv(tmp_path / "a.csv", CUSTOMER_HEADER, iter(rows)), mapping=MAPPING)
    twice = write_csv(tmp_path / "b.csv", CUSTOMER_HEADER, iter([*rows, rows[3], *rows[:2]]))
    mapped.clear()
    summary = run_csv(db_url, twice, batch_size=7, mapping=MAPPING)
    assert_counts_add_up(summary)
    assert (summary.counts["read"], summary.counts["unchanged"], summary.counts["duplicates"]) == (23, 20, 3)
    # Only the ids read twice are mapped: which of their lines wins is the stamps' and lines' call.
    assert set(mapped) == {rows[0][0], rows[1][0], rows[3][0]}


@pytest.mark.parametrize("batch_size", [3, 5])
def test_a_repeat_after_a_changed_copy_is_the_last_line_and_wins(
    db_url: str, tmp_path: Path, batch_size: int
) -> None:
    """Customer 0 as it was, moved, then as it was again: the last line wins, as when every row
    is mapped, whether the repeat shares a batch with the first line (3) or not (5: the moved
    copy and the repeat come in the second batch)."""
    rows = list(customer_rows(12))
    run_csv(db_url, write_csv(tmp_path / "a.csv", CUSTOMER_HEADER, iter(rows)), mapping=MAPPING)
    street = CUSTOMER_HEADER.index("street")
    moved = [*rows[0][:street], "1 New Road", *rows[0][street + 1 :]]
    order = (
        [rows[0], moved, rows[0], *rows[1:]] if batch_size == 3 else [*rows[:5], moved, rows[0], *rows[5:]]
    )
    again = write_csv(tmp_path / "b.csv", CUSTOMER_HEADER, iter(order))
    summary = run_csv(db_url, again, batch_size=batch_size, mapping=MAPPING)
    assert_counts_add_up(summary)
    counts = summary.counts
    assert (counts["read"], counts["updated"], counts["duplicates"], counts["unchanged"]) == (14, 0, 2, 12)
    streets = {r["entity_source_id"]: r["street"] for r in table_rows(db_url, "customer")}
    assert streets[rows[0][0]] == rows[0][street]


class _Crash(Exception):
    """Stands for the process dying once a batch has committed."""


@pytest.mark.parametrize("workers", [0, 2])
def test_rows_skipped_as_unchanged_leave_no_seen_row_and_still_count_after_a_resume(
    db_url: str, tmp_path: Path, workers: int
) -> None:
    """A run read in file order by one process keeps the rows it skipped in memory, not in
    `sync_seen`; resumed after a crash it finds them again from the rows it re-reads, so a
    repeat after the crash is a duplicate and the last line still wins."""
    rows = list(customer_rows(20))
    run_csv(db_url, write_csv(tmp_path / "a.csv", CUSTOMER_HEADER, iter(rows)), mapping=MAPPING)
    street = CUSTOMER_HEADER.index("street")
    moved = [*rows[3][:street], "1 New Road", *rows[3][street + 1 :]]
    # Batches of 7: the first skips customers 0-6 but 3 and 5, read again further down; the
    # crash comes after it; the third batch reads customer 3 moved (its last line, which wins)
    # and customer 5 as it was.
    again = write_csv(tmp_path / "b.csv", CUSTOMER_HEADER, iter([*rows, moved, rows[5]]))
    settings = settings_for(db_url, batch_size=7, mapping_workers=workers)
    seen_rows: list[int] = []

    def crash_after_first(_stream: object, counts: dict[str, int]) -> None:
        with get_engine(db_url).connect() as conn:
            seen_rows.append(conn.execute(sa.text("SELECT count(*) FROM sync_seen")).scalar_one())
        raise _Crash()

    run_id = new_run_id()
    with pytest.raises(_Crash):
        import_csv(settings, again, mapping=MAPPING, run_id=run_id, on_batch=crash_after_first)
    assert seen_rows == [0]  # seven rows skipped, none written to sync_seen
    summary = resume_csv(settings, run_id)
    assert_counts_add_up(summary)
    counts = summary.counts
    # Customer 3 is updated by its last line (as in one batch), its first line a duplicate of it.
    assert (counts["read"], counts["updated"], counts["duplicates"], counts["unchanged"]) == (22, 1, 2, 19)
    streets = {r["entity_source_id"]: r["street"] for r in table_rows(db_url, "customer")}
    assert streets[rows[3][0]] == "1 New Road"
    assert table_rows(db_url, "sync_seen", order_by="run_id") == []


@pytest.mark.parametrize("workers", [0, 2])
def test_with_a_mapping_pool_the_last_line_still_wins_over_a_row_skipped_early(
    db_url: str, tmp_path: Path, workers: int
) -> None:
    """A pool splits a batch before the batches ahead of it are written; the file's last line
    still wins. Line 5, superseded by it, is never applied: the customer is not moved out and
    back (each re-import wrote it twice before), and the last line finds it unchanged."""
    rows = list(customer_rows(20))
    run_csv(db_url, write_csv(tmp_path / "a.csv", CUSTOMER_HEADER, iter(rows)), mapping=MAPPING)
    street = CUSTOMER_HEADER.index("street")
    moved = [*rows[3][:street], "1 New Road", *rows[3][street + 1 :]]
    # Line 5 moves customer 3 out; the last line (in the third batch of 7) moves it back.
    again = write_csv(tmp_path / "b.csv", CUSTOMER_HEADER, iter([*rows[:3], moved, *rows[4:], rows[3]]))
    summary = run_csv(db_url, again, batch_size=7, mapping=MAPPING, mapping_workers=workers)
    assert_counts_add_up(summary)
    counts = summary.counts
    assert (counts["read"], counts["updated"], counts["duplicates"], counts["unchanged"]) == (21, 0, 1, 20)
    streets = {r["entity_source_id"]: r["street"] for r in table_rows(db_url, "customer")}
    assert streets[rows[3][0]] == rows[3][street]


def test_a_run_leaves_the_heap_it_found_unscanned_and_hands_it_back(db_url: str, tmp_path: Path) -> None:
    """The collector skips the process's older objects while a run lasts, and only then."""
    import gc

    frozen: list[int] = []
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, customer_rows(5))
    run_csv(
        db_url, path, mapping=MAPPING, on_batch=lambda _stream, _counts: frozen.append(gc.get_freeze_count())
    )
    assert frozen and all(n > 0 for n in frozen)
    assert gc.get_freeze_count() == 0
