"""Batches move set-wise: the statements per batch do not grow with the batch size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from tests.sync.helpers import run_csv


@contextmanager
def statements(url: str) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = get_engine(url)

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_postgres_batches_use_copy_and_a_fixed_number_of_statements(pg_only_url: str, tmp_path: Path) -> None:
    small = write_csv(tmp_path / "small.csv", SHOPIFY_HEADER, shopify_rows(50, seed=1))
    large = write_csv(tmp_path / "large.csv", SHOPIFY_HEADER, shopify_rows(3000, start=100, seed=1))
    with statements(pg_only_url) as few:
        run_csv(pg_only_url, small, batch_size=5000)
    with statements(pg_only_url) as many:
        run_csv(pg_only_url, large, batch_size=5000)
    # One batch each: 60 times the rows, the same statements.
    assert len(many) == len(few)
    assert len(many) < 60
    upserts = [s for s in many if "ON CONFLICT" in s]
    assert upserts and all("SELECT" in s for s in upserts)  # INSERT … SELECT from staging
    with get_engine(pg_only_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM customer")).scalar() == 3050


def test_sqlite_batches_also_use_a_fixed_number_of_statements(sqlite_url: str, tmp_path: Path) -> None:
    from tests.conftest import truncate_all

    truncate_all(get_engine(sqlite_url))
    small = write_csv(tmp_path / "small.csv", SHOPIFY_HEADER, shopify_rows(50, seed=1))
    large = write_csv(tmp_path / "large.csv", SHOPIFY_HEADER, shopify_rows(2000, start=100, seed=1))
    with statements(sqlite_url) as few:
        run_csv(sqlite_url, small, batch_size=5000)
    with statements(sqlite_url) as many:
        run_csv(sqlite_url, large, batch_size=5000)
    assert len(many) == len(few)
