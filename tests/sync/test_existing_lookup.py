"""What the customer loader finds of a batch's ids in one statement: source rows, tombstones, this run's reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.exports import CUSTOMER_HEADER, customer_rows, write_csv
from models import SourceTombstone, SyncSeen, get_engine
from sync.load import BatchTarget, PkSet
from sync.load.customers import _existing
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
