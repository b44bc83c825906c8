"""A run keeps PostgreSQL's planner statistics current as it grows the tables, so lookups use indexes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import CustomerSource, get_engine
from sync.load import PlannerStatistics
from sync.load.statistics import CHECK_ROWS, key_columns
from tests.sync.helpers import run_csv


def _last_analyze(url: str, table: str) -> datetime | None:
    with get_engine(url).connect() as conn:
        stamp: datetime | None = conn.execute(
            sa.text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar_one()
        return stamp


def _plan(url: str, sql: str) -> str:
    with get_engine(url).connect() as conn:
        rows = conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()
    return json.dumps(rows if not isinstance(rows, str) else json.loads(rows))


def test_a_first_import_analyzes_what_it_grew_and_lookups_use_the_index(
    pg_only_url: str, tmp_path: Path
) -> None:
    with get_engine(pg_only_url).connect() as conn:
        started = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    path = write_csv(tmp_path / "c.csv", SHOPIFY_HEADER, shopify_rows(3000))

    summary = run_csv(pg_only_url, path, batch_size=1000)

    assert summary.status == "succeeded", summary.error
    for table in ("customer", "customer_source"):
        stamp = _last_analyze(pg_only_url, table)
        assert stamp is not None and stamp > started, table
    # What the statistics are for: the recompute's lookup of a few customers' source rows
    # reads the index, not the whole table (with none, the planner guesses a seq scan).
    plan = _plan(pg_only_url, "SELECT * FROM customer_source WHERE customer_pk = ANY('{5,50,500}'::int[])")
    assert "Seq Scan" not in plan and "ix_customer_source_customer_pk" in plan, plan


def test_only_the_indexed_columns_are_analyzed() -> None:
    table: sa.Table = CustomerSource.__table__  # type: ignore[attr-defined]
    assert key_columns(table) == ["pk", "source", "source_id", "customer_pk", "raw_hash"]


def test_a_table_already_analyzed_at_its_size_is_left_alone(pg_only_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", SHOPIFY_HEADER, shopify_rows(3000))
    assert run_csv(pg_only_url, path, batch_size=1000).status == "succeeded"
    statistics = PlannerStatistics(get_engine(pg_only_url))
    statistics.refresh()  # whatever the import's last batches grew

    assert statistics.refresh() == []


def test_a_table_another_session_is_analyzing_is_skipped_not_waited_for(pg_only_url: str) -> None:
    engine = get_engine(pg_only_url)
    with engine.begin() as conn:  # both emptied by the fixture: 0 pages at their last look
        conn.execute(sa.text("INSERT INTO sync_seen SELECT 'r', g::text, g FROM generate_series(1, 20000) g"))
        conn.execute(
            sa.text(
                "INSERT INTO source_tombstone SELECT 's', g::text, 'CSV', now(), now()"
                " FROM generate_series(1, 20000) g"
            )
        )
    with engine.connect() as other:
        # The lock ANALYZE takes, held as a concurrent ANALYZE or VACUUM would hold it.
        other.execute(sa.text("LOCK TABLE source_tombstone IN SHARE UPDATE EXCLUSIVE MODE"))
        done = PlannerStatistics(engine).refresh()
        other.rollback()

    assert "sync_seen" in done and "source_tombstone" not in done
    assert PlannerStatistics(engine).refresh() == ["source_tombstone"]  # its turn once free


def test_sqlite_has_nothing_to_analyze(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert PlannerStatistics(sa.create_engine(url)).refresh() == []


def test_sizes_are_read_only_once_the_rows_written_add_up(
    pg_only_url: str, request: pytest.FixtureRequest
) -> None:
    engine = get_engine(pg_only_url)
    table = sa.Table("grown", sa.MetaData(), sa.Column("pk", sa.Integer, primary_key=True))
    table.create(engine)
    request.addfinalizer(lambda: table.drop(engine))  # not a table of the store's schema
    with engine.begin() as conn:
        # ~100 pages, never analyzed: stale as soon as its size is read.
        conn.execute(sa.text("INSERT INTO grown SELECT generate_series(1, 20000)"))
    statistics = PlannerStatistics(engine, [table])

    assert statistics.refresh(written=CHECK_ROWS - 1) == []  # not read yet: too few rows written
    assert statistics.refresh(written=1) == ["grown"]  # they add up: read, and analyzed
    assert _last_analyze(pg_only_url, "grown") is not None
