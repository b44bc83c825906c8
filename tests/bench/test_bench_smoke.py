"""The CSV import benchmark runs end to end on a tiny export and reports every method."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from bench.csv_import import AGAIN, FIRST, MAP_ONLY, METHODS, format_table, run_benchmark, store_digest
from bench.exports import SHOPIFY_HEADER, shopify_rows
from tests.conftest import PG_ADMIN_URL

# The timeout guards against a hang; speed is the benchmark's business (the machine is shared).
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(90)]

ROWS, SUBSET = 300, 100
STORE_METHODS = ("project-postgresql", "project-sqlite", "orm-postgresql", "executemany-postgresql")


def people_of(rows: int) -> str:
    """The digest of the e-mails the export's first `rows` rows carry, read from the rows themselves."""
    return store_digest(row[SHOPIFY_HEADER.index("Email")].lower() for row in shopify_rows(rows))


def test_every_method_ran_on_the_same_rows_and_left_one_customer_per_row() -> None:
    report = run_benchmark(ROWS, SUBSET, batch_size=100, pg_admin_url=PG_ADMIN_URL, isolate=False)

    phases = {(m.method, m.phase) for m in report.results}
    assert phases == {(m, p) for m in STORE_METHODS for p in (FIRST, AGAIN)} | {("map-only", MAP_ONLY)}
    # The project's path runs on the whole export, the row-at-a-time methods on its first rows.
    expected_rows = {"project-postgresql": ROWS, "project-sqlite": ROWS}
    for method in STORE_METHODS:
        for phase in (FIRST, AGAIN):
            m = report.result(method, phase)
            rows = expected_rows.get(method, SUBSET)
            assert m.rows == rows, (method, phase)
            # One customer per row, and the very people of those rows, in every method's store.
            assert m.customers_in_store == rows, (method, phase)
            assert m.store_digest == people_of(rows), (method, phase)
    for method in ("project-postgresql", "project-sqlite"):
        first, again = report.result(method, FIRST), report.result(method, AGAIN)
        assert (first.counts["read"], first.counts["created"], first.counts["rejected"]) == (ROWS, ROWS, 0)
        assert (again.counts["read"], again.counts["unchanged"], again.counts["created"]) == (ROWS, ROWS, 0)
    orm_first, orm_again = report.result("orm-postgresql", FIRST), report.result("orm-postgresql", AGAIN)
    assert (orm_first.counts["read"], orm_first.counts["created"]) == (SUBSET, SUBSET)
    assert (orm_again.counts["read"], orm_again.counts["unchanged"]) == (SUBSET, SUBSET)
    for phase in (FIRST, AGAIN):
        executemany = report.result("executemany-postgresql", phase).counts
        assert (executemany["read"], executemany.get("skipped", 0)) == (SUBSET, 0)
    mapped = report.result("map-only", MAP_ONLY)
    assert (mapped.rows, mapped.counts["read"], mapped.counts["mapped"]) == (SUBSET, SUBSET, SUBSET)


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
