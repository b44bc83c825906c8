"""What the customer loader finds of a batch's ids in one statement: source rows, tombstones, this run's reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.exports import CUSTOMER_HEADER, customer_rows, write_csv
from models import SourceTombstone, SyncSeen, get_engine
from sync.load import BatchTarget, PkSet
from sync.load.customers import StoredRows, _existing, find_unchanged, stored_after
from tests.sync.helpers import run_csv, table_rows

MAPPING = Path(__file__).parents[2] / "bench" / "customers.toml"
DELETED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _store_two_ids(url: str, tmp_path: Path) -> tuple[str, list[str]]:
    run_csv(url, write_csv(tmp_path / "two.csv", CUSTOMER_HEADER, customer_rows(2)), mapping=MAPPING)
    rows = table_rows(url, "customer_source")
    return rows[0]["source"], [r["source_id"] for r in rows]


def test_source_rows_tombstones_and_this_runs_lines_come_back_together(db_url: str, tmp_path: Path) -> None:
    source, (kept, revived) = _store_two_ids(db_url, tmp_path)
    with get_engine(db_url).begin() as conn:
        tombs = [(revived, DELETED), ("deleted-first", DELETED)]
        conn.execute(
            sa.insert(SourceTombstone.__table__),  # type: ignore[attr-defined]
            [{"source": source, "source_id": s, "entity_source": "CSV", "modstamp": m} for s, m in tombs],
        )
        seen = [("run-a", revived, 7), ("run-a", "deleted-first", None), ("run-b", kept, 3)]
        conn.execute(
            sa.insert(SyncSeen.__table__),  # type: ignore[attr-defined]
            [{"run_id": r, "source_id": s, "line": n} for r, s, n in seen],
        )
        found = _existing(
            conn, BatchTarget("run-a", source, "CSV", 1), [kept, revived, "deleted-first", "new"]
        )
    stored = {r["source_id"]: r for r in table_rows(db_url, "customer_source")}
    assert set(found) == {kept, revived, "deleted-first"}
    # A source row wins over a tombstone of its id (a newer version revived it).
    assert "tombstone" not in found[revived]
    assert found[revived]["seen"] is True and found[revived]["seen_line"] == 7
    assert found[revived]["customer_pk"] == stored[revived]["customer_pk"]
    assert found[revived]["content_hash"] == stored[revived]["content_hash"]
    # Read by another run only: not seen by this one.
    assert not found[kept].get("seen")
    assert found[kept]["pk"] == stored[kept]["pk"] and found[kept]["deleted"] is False
    assert found["deleted-first"] == {"tombstone": DELETED, "seen": True, "seen_line": None}


def test_a_run_with_no_sync_seen_rows_yet_skips_them_and_its_skipped_rows_count_as_read(
    db_url: str, tmp_path: Path
) -> None:
    source, (kept, other) = _store_two_ids(db_url, tmp_path)
    pk = {r["source_id"]: r["pk"] for r in table_rows(db_url, "customer_source")}
    skipped = PkSet()
    skipped.add(pk[kept])
    target = BatchTarget("run-a", source, "CSV", 1, read_pks=skipped, seen_rows=False)
    with get_engine(db_url).connect() as conn:
        found = _existing(conn, target, [kept, other])
    assert found[kept]["seen"] is True and found[kept]["seen_line"] is None
    assert not found[other].get("seen")


def _rows_compared_by_join_filters(conn: sa.Connection, call: Callable[[], object]) -> int:
    """Run `call` (one lookup) and EXPLAIN ANALYZE what it sent: the rows its joins' filters
    compared and threw away, in all (a join the planner misjudged compares every pair)."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", keep)
    try:
        call()
    finally:
        sa.event.remove(conn, "before_cursor_execute", keep)
    assert sent
    removed = 0
    for statement, parameters in sent:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        explained = cursor.fetchone()
        assert explained is not None
        plans = [explained[0][0]["Plan"]]
        while plans:
            plan = plans.pop()
            removed += plan.get("Rows Removed by Join Filter", 0)
            plans.extend(plan.get("Plans", []))
    return removed


def test_a_crashed_runs_reads_left_behind_never_make_a_lookup_compare_every_pair(
    pg_only_url: str, tmp_path: Path
) -> None:
    """A killed run leaves its `sync_seen` rows (for its resume). Planned from statistics taken
    then, a new run's rows were expected to be one, and its lookups joined them by comparing
    each id looked up with each row the run had read: 155 s for one batch of 5,000 ids on a
    store with 135,000 such rows. Looked up by the key, a lookup compares nothing."""
    ids = [str(1_000_000 + i) for i in range(600)]
    run_csv(pg_only_url, write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, customer_rows(600)), mapping=MAPPING)
    source = table_rows(pg_only_url, "customer_source")[0]["source"]
    seen = SyncSeen.__table__  # type: ignore[attr-defined]
    engine = get_engine(pg_only_url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(seen), [{"run_id": "crashed", "source_id": f"x{i}", "line": i} for i in range(20_000)]
        )
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE sync_seen"))
        conn.commit()
    with engine.begin() as conn:
        # This run has read every id since (statistics that do not know it).
        conn.execute(
            sa.insert(seen), [{"run_id": "live", "source_id": i, "line": n} for n, i in enumerate(ids, 2)]
        )
        target = BatchTarget("live", source, "CSV", 1)
        found: dict[str, Any] = {}
        assert _rows_compared_by_join_filters(conn, lambda: found.update(_existing(conn, target, ids))) == 0
        assert all(found[i]["seen"] and found[i]["seen_line"] == n for n, i in enumerate(ids, 2))
        hashes = [r["raw_hash"] for r in table_rows(pg_only_url, "customer_source")]
        known: list[StoredRows] = []
        assert (
            _rows_compared_by_join_filters(conn, lambda: known.append(find_unchanged(conn, target, hashes)))
            == 0
        )
        assert len(known[0].seen) == 600
        assert (
            _rows_compared_by_join_filters(conn, lambda: known.append(stored_after(conn, target, 0, 700)))
            == 0
        )
        assert len(known[1].seen) == 600
