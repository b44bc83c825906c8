"""`python -m bench` (`make bench`): imports and API side by side in one run, each target met or missed."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import models
from bench.api import LEVELS, Latency, api_targets, format_api, run_api_benchmark
from bench.api_store import api_store, drop_store
from bench.exports import CUSTOMER_HEADER, customer_rows, write_csv
from bench.imports import (
    CHANGED,
    FIRST,
    METHODS,
    PHASES,
    UNCHANGED,
    Job,
    Measurement,
    run_isolated,
)
from models import get_engine
from sync.log import configure_logging

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@dataclass(slots=True)
class Target:
    """One target of issue 9 and whether this run met it."""

    name: str
    wanted: str
    measured: str
    met: bool


@dataclass(slots=True)
class Report:
    """A whole run: conditions, import phases, RSS at two sizes, API latencies, targets."""

    rows: int
    sample_rows: int
    rss_rows: int
    batch_size: int
    machine: dict[str, Any]
    imports: list[Measurement] = field(default_factory=list)
    rss: list[Measurement] = field(default_factory=list)
    store: dict[str, int] = field(default_factory=dict)
    api: list[Latency] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)  # the throw-away databases, all dropped
    rounds: int = 1  # each import figure is the fastest of this many rounds
    date: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="minutes"))

    def result(self, method: str, phase: str) -> Measurement | None:
        return next((m for m in self.imports if m.method == method and m.phase == phase), None)

    def latency(self, op: str, path: str, clients: int) -> Latency | None:
        return next(
            (x for x in self.api if x.operation == op and x.path == path and x.clients == clients), None
        )

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("imports", "rss", "api")}
        out["imports"] = [{**asdict(m), "rows_per_s": round(m.rows_per_s, 1)} for m in self.imports]
        out["rss"] = [asdict(m) for m in self.rss]
        out["api"] = [{**asdict(x), "per_s": round(x.per_s, 1)} for x in self.api]
        return out


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@contextmanager
def _database(admin: sa.Engine, tag: str, migrate: bool, names: list[str]) -> Iterator[str]:
    """A throw-away database for one method, dropped afterwards whatever happens."""
    name = f"cs_bench_{uuid.uuid4().hex[:8]}_{tag}"
    names.append(name)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        if migrate:
            models.upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _targets(report: Report) -> list[Target]:
    out: list[Target] = []
    size = f" (at {report.rows:,} rows; the issue's size is 1,000,000)"

    def ratio(phase: str) -> tuple[float, Measurement | None]:
        ours, theirs = report.result("project", phase), report.result("dlt", phase)
        if ours is None or theirs is None or not theirs.rows_per_s:
            return 0.0, ours
        return ours.rows_per_s / theirs.rows_per_s, ours

    first = report.result("project", FIRST)
    if first is not None:
        out.append(
            Target(
                "first import rows/s",
                ">= 30,000 rows/s" + size,
                f"{first.rows_per_s:,.0f}",
                first.rows_per_s >= 30_000,
            )
        )
    for phase, wanted in ((FIRST, 2.0), (UNCHANGED, 10.0), (CHANGED, 5.0)):
        r, ours = ratio(phase)
        if ours is None or not r:
            continue
        measured = f"{r:.2f}x dlt"
        met = r >= wanted
        if phase == UNCHANGED:
            measured += f", {ours.written:,} rows written"
            met = met and ours.written == 0
        out.append(
            Target(
                f"{phase} vs dlt",
                f">= {wanted:g}x dlt" + (", writing no rows" if phase == UNCHANGED else ""),
                measured,
                met,
            )
        )
    if len(report.rss) == 2:
        small, big = report.rss
        # The importer's and its largest mapping process's, each flat and under the bound.
        flat = big.peak_rss_mib <= small.peak_rss_mib * 1.1 and (
            big.child_peak_rss_mib <= max(small.child_peak_rss_mib * 1.1, 1.0)
        )
        largest = max(small.peak_rss_mib, big.peak_rss_mib, small.child_peak_rss_mib, big.child_peak_rss_mib)
        out.append(
            Target(
                "peak RSS, flat",
                f"< 300 MiB at {small.rows:,} and {big.rows:,} rows, flat",
                f"{small.peak_rss_mib:.0f} -> {big.peak_rss_mib:.0f} MiB"
                f" (mapping process {small.child_peak_rss_mib:.0f} -> {big.child_peak_rss_mib:.0f})",
                largest < 300 and flat,
            )
        )
    out += [Target(*t) for t in api_targets(report.api, report.store.get("customer", 0))]
    return out


def run_benchmark(
    rows: int = 20_000,
    sample_rows: int = 1_000,
    batch_size: int = 5_000,
    *,
    rss_rows: int | None = None,
    methods: tuple[str, ...] = tuple(METHODS),
    api_seconds: float = 2.0,
    api_levels: tuple[int, ...] = LEVELS,
    orders_per_customer: int = 5,
    api_customers: int | None = None,
    api_workers: int = 1,
    api_keep: bool = True,
    pg_admin_url: str = PG_ADMIN_URL,
    isolate: bool = True,
    api: bool = True,
    progress: Callable[[str], None] | None = None,
    rounds: int = 1,
) -> Report:
    """Generate the files, measure every method and the API, and drop every throw-away database.

    With `rounds` above 1 every method imports that many times, each round on a fresh database
    and in the reverse order of the round before (so a machine that speeds up or slows down over
    the run favours no method), and each phase reports its fastest round.
    """
    say = progress or (lambda _msg: None)
    sample_rows = min(sample_rows, rows)
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pg = conn.execute(sa.text("SHOW server_version")).scalar_one()
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg,
        "platform": platform.platform(),
        # Other work on the machine skews every figure; the load says how much to trust them.
        "loadavg_start": _load(),
    }
    report = Report(rows, sample_rows, rss_rows or 0, batch_size, machine, rounds=rounds)
    try:
        with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
            files = {
                n: (
                    str(write_csv(Path(tmp) / f"customers-{n}.csv", CUSTOMER_HEADER, customer_rows(n))),
                    str(
                        write_csv(
                            Path(tmp) / f"customers-{n}-1pc.csv", CUSTOMER_HEADER, customer_rows(n, 100)
                        )
                    ),
                )
                for n in {rows, sample_rows, *([rss_rows] if rss_rows else [])}
            }
            measured: list[Measurement] = []
            for turn in range(rounds):
                for method in methods if turn % 2 == 0 else tuple(reversed(methods)):
                    n = sample_rows if method == "orm" else rows
                    migrate = method in ("project", "inline", "orm")
                    with _database(admin, method, migrate, report.databases) as url:
                        say(
                            f"{method}: {n:,} rows, {', '.join(PHASES)}"
                            + (f", round {turn + 1}" if rounds > 1 else "")
                        )
                        job = Job(method, url, *files[n], n, batch_size, tmp)
                        measured.extend(run_isolated(job, isolate))
            report.imports = _fastest(measured, methods)
            if rss_rows and "project" in methods:
                for n in (rows, rss_rows):
                    with _database(admin, "rss", True, report.databases) as url:
                        say(f"project: peak RSS of a first import of {n:,} rows")
                        job = Job("project", url, *files[n], n, batch_size, tmp, phases=(FIRST,))
                        report.rss.extend(run_isolated(job, isolate))
        if api:
            # The API's store is generated set-wise (the import is measured above) and kept
            # between runs under a name that fingerprints it (bench/api_store.py).
            store = api_store(
                pg_admin_url, api_customers or rows, orders_per_customer, keep=api_keep, progress=say
            )
            if not api_keep:
                report.databases.append(store.database)
            try:
                report.store = store.counts
                report.api = run_api_benchmark(store.url, api_seconds, api_levels, say, api_workers)
            finally:
                if not api_keep:
                    drop_store(pg_admin_url, store.database)
    finally:
        admin.dispose()
    machine["api_workers"] = api_workers
    machine["loadavg_end"] = _load()
    for m in report.imports:
        dlt = report.result("dlt", m.phase)
        m.ratio_to_dlt = m.rows_per_s / dlt.rows_per_s if dlt and dlt.rows_per_s else None
    report.targets = _targets(report)
    return report


def _fastest(measured: list[Measurement], methods: tuple[str, ...]) -> list[Measurement]:
    """Per method and phase, the round that took the least time; in method, then phase, order."""
    best: dict[tuple[str, str], Measurement] = {}
    for m in measured:
        key = (m.method, m.phase)
        if key not in best or m.seconds < best[key].seconds:
            best[key] = m
    return [best[(method, phase)] for method in methods for phase in PHASES if (method, phase) in best]


def format_report(report: Report) -> str:
    """The run as plain-text tables: imports, RSS, API, targets."""
    m = report.machine
    lines = [
        f"customer-sync benchmark {report.date}: {report.rows:,}-row 11-column customer file "
        f"(ORM sample {report.sample_rows:,}), batch {report.batch_size:,}; {m['cpus']} CPUs, "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}",
        f"load average {m['loadavg_start']} at start, {m.get('loadavg_end')} at end "
        "(other processes share this machine: treat single figures as +-20 %)"
        + (
            f"; each import figure the fastest of {report.rounds} rounds, methods in alternating order"
            if report.rounds > 1
            else ""
        ),
        "",
        f"{'import':<58} {'phase':<20} {'rows':>9} {'seconds':>8} {'cpu s':>7} {'rows/s':>9} "
        f"{'vs dlt':>7} {'written':>9} {'in store':>9} {'RSS MiB':>8}",
    ]
    for r in report.imports:
        ratio = f"{r.ratio_to_dlt:.2f}x" if r.ratio_to_dlt is not None else "-"
        lines.append(
            f"{METHODS[r.method]:<58} {r.phase:<20} {r.rows:>9,} {r.seconds:>8.2f} {r.cpu_seconds:>7.2f} "
            f"{r.rows_per_s:>9,.0f} {ratio:>7} {r.written:>9,} {r.store_rows:>9,} {r.peak_rss_mib:>8.0f}"
        )
    if report.rss:
        lines += ["", "peak RSS of the project's first import (own process; its largest mapping process): "
                  + ", ".join(f"{r.rows:,} rows: {r.peak_rss_mib:.0f} MiB ({r.child_peak_rss_mib:.0f})"
                              for r in report.rss)]  # fmt: skip
    if report.api:
        lines += ["", *format_api(report.api, report.store, int(m.get("api_workers", 1)))]
    if report.targets:
        lines += ["", "targets (issue 9):"]
        for t in report.targets:
            lines.append(f"  {'MET   ' if t.met else 'MISSED'} {t.name}: {t.measured} (target {t.wanted})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Import a generated customer file into PostgreSQL with this project, the COPY floor, "
        "dlt merge and a row-by-row ORM (first, unchanged, 1 %% changed), then load the API with "
        "1/10/50 clients. Creates and drops its own databases.",
    )
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the file (default 20000)")
    parser.add_argument(
        "--sample-rows", type=int, default=1_000, help="rows for the row-by-row ORM (default 1000)"
    )
    parser.add_argument(
        "--rss-rows",
        type=int,
        default=None,
        help="also measure the peak RSS of a first import of this many rows (default 3x --rows)",
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the second-size RSS import")
    parser.add_argument("--batch-size", type=int, default=5000, help="rows per batch (default 5000)")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)}"
    )
    parser.add_argument("--no-api", action="store_true", help="skip the API section")
    parser.add_argument(
        "--api-seconds", type=float, default=2.0, help="seconds per operation and level (default 2)"
    )
    parser.add_argument(
        "--orders-per-customer", type=int, default=5, help="orders per customer in the API store"
    )
    parser.add_argument(
        "--api-customers",
        type=int,
        default=None,
        help="customers in the API's generated store (default --rows; the issue's size is 1000000)",
    )
    parser.add_argument(
        "--api-workers", type=int, default=1, help="`customer-sync serve --workers` for the API (default 1)"
    )
    parser.add_argument(
        "--api-throwaway", action="store_true", help="drop the API's generated store after the run"
    )
    parser.add_argument(
        "--pg-admin-url", default=PG_ADMIN_URL, help="where to create the throw-away databases"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="import with every method this many times, in alternating order, and report each "
        "phase's fastest round (default 1; 3 evens out a machine whose speed drifts)",
    )
    parser.add_argument("--in-process", action="store_true", help="no subprocess per method (for profiling)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    if unknown := set(methods) - set(METHODS):
        parser.error(f"unknown method(s): {', '.join(sorted(unknown))}")
    if min(args.rows, args.sample_rows, args.batch_size, args.rounds) < 1:
        parser.error("--rows, --sample-rows, --batch-size and --rounds must be positive")
    configure_logging("WARNING")
    report = run_benchmark(
        args.rows,
        args.sample_rows,
        args.batch_size,
        rss_rows=None if args.no_rss else (args.rss_rows or 3 * args.rows),
        methods=methods,
        api_seconds=args.api_seconds,
        orders_per_customer=args.orders_per_customer,
        api_customers=args.api_customers,
        api_workers=args.api_workers,
        api_keep=not args.api_throwaway,
        pg_admin_url=args.pg_admin_url,
        isolate=not args.in_process,
        api=not args.no_api,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        rounds=args.rounds,
    )
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
