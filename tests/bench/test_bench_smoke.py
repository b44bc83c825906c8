"""The speed benchmark runs end to end on a tiny file: every method, every phase, the API, the targets."""

from __future__ import annotations

import importlib.util
import json

import pytest
import sqlalchemy as sa

from bench.__main__ import _fastest, format_report, run_benchmark
from bench.api import QUERIES
from bench.exports import CUSTOMER_HEADER, customer_rows
from bench.imports import CHANGED, FIRST, METHODS, PHASES, UNCHANGED, Measurement, store_digest
from tests.conftest import PG_ADMIN_URL

# dlt is in the optional `bench` group (`make bench` installs it); without it the rest still runs.
HAS_DLT = importlib.util.find_spec("dlt") is not None
MEASURED = tuple(m for m in METHODS if HAS_DLT or m != "dlt")
# The timeout guards against a hang; speed is the benchmark's business (the machine is shared).
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]

ROWS, SAMPLE = 300, 100


def people_of(rows: int) -> str:
    """The digest of the e-mails the file's first `rows` rows carry, read from the rows themselves."""
    return store_digest(row[CUSTOMER_HEADER.index("email")].lower() for row in customer_rows(rows))


def test_every_method_imports_the_same_rows_and_each_store_ends_with_one_customer_per_row() -> None:
    report = run_benchmark(
        ROWS, SAMPLE, batch_size=100, rss_rows=2 * ROWS, pg_admin_url=PG_ADMIN_URL, isolate=False,
        api_seconds=0.2, api_levels=(1, 2), methods=MEASURED, api_keep=False,
    )  # fmt: skip

    assert {(m.method, m.phase) for m in report.imports} == {(k, p) for k in MEASURED for p in PHASES}
    for m in report.imports:
        rows = SAMPLE if m.method == "orm" else ROWS
        assert m.rows == rows, m
        # One customer per row, and the very people of those rows, in every method's store.
        assert m.store_rows == rows, f"{m.method} {m.phase}: {m.store_rows} customers for {rows} rows"
        assert m.store_digest == people_of(rows), (m.method, m.phase)
        assert m.rows_per_s > 0 and m.peak_rss_mib > 0
        assert (m.ratio_to_dlt is not None) == HAS_DLT
    project = {p: report.result("project", p) for p in PHASES}
    assert project[FIRST] and project[FIRST].counts["created"] == ROWS
    # Nothing changed: nothing in the store is written.
    assert project[UNCHANGED] and project[UNCHANGED].counts["unchanged"] == ROWS
    assert project[UNCHANGED].written == 0
    # Every 100th row moved house: exactly those are updated, on the customer and its source row.
    assert project[CHANGED] and project[CHANGED].counts["updated"] == ROWS // 100
    assert project[CHANGED].counts["unchanged"] == ROWS - ROWS // 100
    assert project[CHANGED].written == 2 * (ROWS // 100)
    floor = report.result("floor", CHANGED)
    assert floor and floor.written == ROWS // 100
    orm = report.result("orm", CHANGED)
    assert orm and orm.counts["updated"] == SAMPLE // 100

    assert [r.rows for r in report.rss] == [ROWS, 2 * ROWS]
    assert {(x.operation, x.path, x.clients) for x in report.api} == {
        (op, path, n) for op in QUERIES for path in ("graphql", "sql") for n in (1, 2)
    }
    assert all(x.requests > 0 and x.errors == 0 for x in report.api)
    assert report.store["customer"] == ROWS

    table = format_report(report)
    assert all(METHODS[m] in table for m in MEASURED)
    # The rows/s, RSS and API targets; with dlt also the three ratios to it.
    assert len(report.targets) == (9 if HAS_DLT else 6)
    assert all(f"{'MET   ' if t.met else 'MISSED'} {t.name}" in table for t in report.targets)
    decoded = json.loads(json.dumps(report.as_dict()))
    assert {"method", "phase", "rows_per_s", "written", "store_rows"} <= set(decoded["imports"][0])

    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = ANY(:names)"),
                {"names": report.databases},
            ).scalar_one()
    finally:
        admin.dispose()
    # One per method, two for the RSS imports, one for the API's generated store: all dropped.
    assert len(report.databases) == len(MEASURED) + 3 and left == 0


def test_rounds_import_each_method_again_on_a_fresh_store_and_report_each_phase_fastest() -> None:
    methods = ("project", "floor")
    report = run_benchmark(
        ROWS, SAMPLE, batch_size=100, rss_rows=None, pg_admin_url=PG_ADMIN_URL, isolate=False,
        methods=methods, api=False, rounds=2,
    )  # fmt: skip

    # One figure per method and phase, each from one of two rounds on a database of its own.
    assert [(m.method, m.phase) for m in report.imports] == [(k, p) for k in methods for p in PHASES]
    assert len(report.databases) == 2 * len(methods)
    assert all(m.store_rows == ROWS for m in report.imports)
    assert "the fastest of 2 rounds" in format_report(report)


def test_the_fastest_round_is_kept_per_method_and_phase() -> None:
    def took(method: str, phase: str, seconds: float) -> Measurement:
        return Measurement(method, phase, ROWS, seconds, 0.1, 100.0, 0, ROWS, {}, "")

    rounds = [took("project", FIRST, 3.0), took("floor", FIRST, 1.0), took("floor", FIRST, 2.0)]
    rounds += [took("project", FIRST, 2.5), took("project", UNCHANGED, 0.5)]
    fastest = _fastest(rounds, ("project", "floor"))
    assert [(m.method, m.phase, m.seconds) for m in fastest] == [
        ("project", FIRST, 2.5),
        ("project", UNCHANGED, 0.5),
        ("floor", FIRST, 1.0),
    ]
