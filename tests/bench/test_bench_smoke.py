"""The CSV import benchmark runs end to end on a tiny export and reports every method."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from bench.csv_import import AGAIN, FIRST, MAP_ONLY, METHODS, format_table, run_benchmark
from tests.conftest import PG_ADMIN_URL

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(20)]

ROWS, SUBSET = 300, 100


def test_benchmark_measures_every_method_and_the_pipeline_counts_add_up() -> None:
    report = run_benchmark(ROWS, SUBSET, batch_size=100, pg_admin_url=PG_ADMIN_URL, isolate=False)

    assert {m.method for m in report.results} == set(METHODS)
    assert all(m.rows_per_s > 0 and m.ratio is not None and m.peak_rss_mib > 0 for m in report.results)
    for method in ("project-postgresql", "project-sqlite"):
        first, again = report.result(method, FIRST), report.result(method, AGAIN)
        assert first.rows == again.rows == ROWS
        assert first.counts["read"] == first.counts["created"] == ROWS
        assert again.counts["read"] == again.counts["unchanged"] == ROWS
        assert first.customers_in_store == again.customers_in_store == ROWS
    orm_first, orm_again = report.result("orm-postgresql", FIRST), report.result("orm-postgresql", AGAIN)
    assert orm_first.counts["created"] == orm_again.counts["unchanged"] == SUBSET
    for method in ("orm-postgresql", "executemany-postgresql"):
        assert report.result(method, FIRST).customers_in_store == SUBSET
        assert report.result(method, AGAIN).customers_in_store == SUBSET
    assert report.result("map-only", MAP_ONLY).counts["mapped"] == SUBSET
    assert report.result("project-postgresql", FIRST).ratio == pytest.approx(1.0)


def test_benchmark_drops_its_database_and_reports_as_table_and_json() -> None:
    report = run_benchmark(50, 20, batch_size=20, pg_admin_url=PG_ADMIN_URL, isolate=False, executemany=False)

    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": report.database}
            ).scalar_one()
    finally:
        admin.dispose()
    assert left == 0
    table = format_table(report)
    assert all(label in table for label, _ in (METHODS[m.method] for m in report.results))
    decoded = json.loads(json.dumps(report.as_dict()))
    assert len(decoded["results"]) == len(report.results) == 7
    assert {"method", "rows", "seconds", "rows_per_s", "ratio", "peak_rss_mib"} <= set(decoded["results"][0])
