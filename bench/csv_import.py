"""CSV import benchmark: the project's set-wise pipeline beside row-by-row alternatives, in one run."""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import models
from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from connectors.base import ReadError, StreamContext
from connectors.csv import CsvStream
from models import GOLDEN_FIELDS, Customer, CustomerSource, get_engine, utcnow
from sync.jobs import import_csv
from sync.log import configure_logging
from sync.mapping import Draft, map_record, new_loyalty_id, preset
from sync.pipeline import SUMMARY_KEYS
from sync.settings import Settings

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
PRESET = "shopify"
SOURCE = "shopify"
FIRST, AGAIN, MAP_ONLY = "first import", "re-import", "parse + map"

# Method key -> (label, store). The keys are what `--json` and the smoke test name.
METHODS: dict[str, tuple[str, str]] = {
    "project-postgresql": ("project pipeline: COPY + INSERT … ON CONFLICT", "postgresql"),
    "project-sqlite": ("project pipeline: executemany + INSERT … ON CONFLICT", "sqlite"),
    "orm-postgresql": ("row-by-row ORM (SQLModel, SELECT per row)", "postgresql"),
    "executemany-postgresql": ("executemany INSERT … ON CONFLICT, no COPY", "postgresql"),
    "map-only": ("parse + map only, no store (floor)", "-"),
}
BASELINE = "project-postgresql"


@dataclass(slots=True)
class Measurement:
    """One timed phase of one method."""

    method: str
    phase: str
    rows: int
    seconds: float
    cpu_seconds: float  # CPU time of the measuring process: the client side, less sensitive to load
    counts: dict[str, int]
    rss_start_mib: float  # RSS peak of the measuring process before the method ran (imports etc.)
    peak_rss_mib: float  # RSS peak of the measuring process when the phase ended
    customers_in_store: int | None = None  # counted after the phase, outside the timing
    # sha256 of the store's customer e-mails, sorted: which people the phase left in the store.
    store_digest: str | None = None
    ratio: float | None = None  # rows/s divided by the project's PostgreSQL rows/s, same phase

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        label, store = METHODS[self.method]
        return {"label": label, "store": store, **asdict(self), "rows_per_s": round(self.rows_per_s, 1)}


@dataclass(frozen=True, slots=True)
class Job:
    """What one method is given: its store, its file and the batch size."""

    method: str
    url: str
    path: str
    rows: int
    batch_size: int


@dataclass(slots=True)
class Report:
    """A whole run: the conditions and every measurement."""

    rows: int
    subset_rows: int
    batch_size: int
    isolated: bool
    database: str  # the throw-away PostgreSQL database, dropped when the run ends
    machine: dict[str, Any]
    results: list[Measurement] = field(default_factory=list)
    date: str = field(default_factory=lambda: datetime.now(UTC).date().isoformat())

    def result(self, method: str, phase: str) -> Measurement:
        return next(m for m in self.results if m.method == method and m.phase == phase)

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "rows": self.rows,
            "subset_rows": self.subset_rows,
            "batch_size": self.batch_size,
            "isolated": self.isolated,
            "database": self.database,
            "machine": self.machine,
            "results": [m.as_dict() for m in self.results],
        }


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _drafts(path: Path, counts: Counter[str]) -> Iterator[Draft]:
    """The file's records read and mapped exactly as the pipeline does; rejects are only counted."""
    layout = preset(PRESET)
    stream = CsvStream(path, SOURCE, layout.entity_source, "customers")
    for item in stream.records(StreamContext()):
        counts["read"] += 1
        mapped = None if isinstance(item, ReadError) else map_record(item, layout.spec)
        if isinstance(mapped, Draft):
            yield mapped
        else:
            counts["rejected"] += 1


def _customer_fields(draft: Draft) -> dict[str, Any]:
    values = {name: draft.fields.get(name) for name in GOLDEN_FIELDS}
    values["firstname"] = values["firstname"] or ""
    values["lastname"] = values["lastname"] or ""
    if isinstance(values["birthday"], str):
        values["birthday"] = date.fromisoformat(values["birthday"])
    return values


def _timed(job: Job, phase: str, rss_start: float, work: Callable[[], dict[str, int]]) -> Measurement:
    started, cpu_started = time.perf_counter(), time.process_time()
    counts = work()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return Measurement(job.method, phase, job.rows, seconds, cpu, counts, rss_start, _peak_rss_mib())


def store_digest(emails: Iterable[str | None]) -> str:
    """A fingerprint of a set of customers by e-mail, to tell that two stores hold the same people."""
    return hashlib.sha256("\n".join(sorted(e or "" for e in emails)).encode()).hexdigest()


def _store_digest(engine: Engine) -> str:
    cust = Customer.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return store_digest(conn.execute(sa.select(cust.c.email)).scalars())


def _count_customers(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(Customer.__table__)).scalar_one())  # type: ignore[attr-defined]


def _project(job: Job) -> dict[str, int]:
    """This project's path: `import_csv`, as the CLI runs it."""
    settings = Settings(database_url=job.url, batch_size=job.batch_size)
    summary = import_csv(settings, Path(job.path), preset_name=PRESET, source_name=SOURCE)
    if summary.status != "succeeded":
        raise RuntimeError(f"the pipeline run ended {summary.status}: {summary.error}")
    return {k: int(summary.counts.get(k, 0)) for k in (*SUMMARY_KEYS, "conflicts")}


def _orm(job: Job) -> dict[str, int]:
    """The way a developer writes it first: one SELECT per row, objects added one by one."""
    counts: Counter[str] = Counter()
    engine = get_engine(job.url)
    entity_source = preset(PRESET).entity_source
    with Session(engine) as session:
        for n, draft in enumerate(_drafts(Path(job.path), counts), 1):
            digest = draft.content_hash()
            source = session.exec(
                select(CustomerSource).where(
                    CustomerSource.source == SOURCE, CustomerSource.source_id == draft.source_id
                )
            ).first()
            fields = _customer_fields(draft)
            if source is None:
                email = fields["email"]
                customer = (
                    session.exec(select(Customer).where(Customer.email == email)).first() if email else None
                )
                if customer is None:
                    customer = Customer(
                        loyalty_id=new_loyalty_id(),
                        entity_source=entity_source,
                        entity_source_id=draft.source_id,
                        extra_info=draft.extra_info,
                        **fields,
                    )
                    session.add(customer)
                    session.flush()  # to learn the new customer's pk
                session.add(
                    CustomerSource(
                        source=SOURCE,
                        source_id=draft.source_id,
                        entity_source=entity_source,
                        customer_pk=customer.pk,  # type: ignore[arg-type]
                        modstamp=draft.modstamp,
                        content_hash=digest,
                        payload=draft.payload(),
                    )
                )
                counts["created"] += 1
            elif source.content_hash != digest:
                customer = session.get(Customer, source.customer_pk)
                assert customer is not None
                for name, value in fields.items():
                    setattr(customer, name, value)
                source.content_hash, source.payload, source.updated_at = digest, draft.payload(), utcnow()
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
            if n % job.batch_size == 0:
                session.commit()
        session.commit()
    return dict(counts)


def _executemany(job: Job) -> dict[str, int]:
    """Each batch as two executemany upserts, without COPY or staging tables.

    SQLAlchemy does not page `ON CONFLICT DO UPDATE` without RETURNING into multi-row VALUES, so
    psycopg2's `executemany` sends one statement per row: the plain way, and what is measured.
    """
    counts: Counter[str] = Counter()
    engine = get_engine(job.url)
    cust, cs = Customer.__table__, CustomerSource.__table__  # type: ignore[attr-defined]
    entity_source = preset(PRESET).entity_source
    ins_cust = postgresql.insert(cust)
    synced = [*GOLDEN_FIELDS, "extra_info"]
    upsert_customer = ins_cust.on_conflict_do_update(
        index_elements=["email"],
        set_={**{n: ins_cust.excluded[n] for n in synced}, "updated_at": ins_cust.excluded.updated_at},
        where=sa.tuple_(*[cust.c[n] for n in synced]).is_distinct_from(
            sa.tuple_(*[ins_cust.excluded[n] for n in synced])
        ),
    )
    ins_cs = postgresql.insert(cs)
    upsert_source = ins_cs.on_conflict_do_update(
        index_elements=["source", "source_id"],
        set_={n: ins_cs.excluded[n] for n in ("content_hash", "payload", "modstamp", "updated_at")},
        where=cs.c.content_hash != ins_cs.excluded.content_hash,
    )
    drafts = _drafts(Path(job.path), counts)
    while True:
        chunk = [d for _, d in zip(range(job.batch_size), drafts, strict=False)]
        if not chunk:
            break
        # Customers are matched by e-mail here; a record without one is left out (and counted).
        counts["skipped"] += sum(1 for d in chunk if not d.fields.get("email"))
        batch = {d.fields["email"]: d for d in chunk if d.fields.get("email")}
        now = utcnow()
        with engine.begin() as conn:
            customer_rows = [
                {
                    **_customer_fields(d),
                    "loyalty_id": new_loyalty_id(),
                    "extra_info": d.extra_info,
                    "entity_source": entity_source,
                    "entity_source_id": d.source_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for d in batch.values()
            ]
            conn.execute(upsert_customer, customer_rows)
            pk_of: dict[str, int] = dict(
                conn.execute(sa.select(cust.c.email, cust.c.pk).where(cust.c.email.in_(batch))).all()
            )
            source_rows = [
                {
                    "source": SOURCE,
                    "source_id": d.source_id,
                    "entity_source": entity_source,
                    "customer_pk": pk_of[email],
                    "modstamp": d.modstamp,
                    "content_hash": d.content_hash(),
                    "payload": d.payload(),
                    "created_at": now,
                    "updated_at": now,
                }
                for email, d in batch.items()
            ]
            conn.execute(upsert_source, source_rows)
    return dict(counts)


def _map_only(job: Job) -> dict[str, int]:
    counts: Counter[str] = Counter()
    counts["mapped"] = sum(1 for _ in _drafts(Path(job.path), counts))
    return dict(counts)


def run_job(job: Job) -> list[Measurement]:
    """Measure one method on a prepared store: a first import, then a re-import of the same file."""
    rss_start = _peak_rss_mib()
    if job.method == "map-only":
        return [_timed(job, MAP_ONLY, rss_start, lambda: _map_only(job))]
    work = {"project": _project, "orm": _orm, "executemany": _executemany}[job.method.split("-")[0]]
    engine = get_engine(job.url)
    results = []
    for phase in (FIRST, AGAIN):
        measured = _timed(job, phase, rss_start, lambda: work(job))
        measured.customers_in_store = _count_customers(engine)
        measured.store_digest = _store_digest(engine)
        results.append(measured)
    return results


def _run_isolated(job: Job) -> list[dict[str, Any]]:
    # Runs in a fresh interpreter, so ru_maxrss is this method's own peak.
    configure_logging("WARNING")
    return [asdict(m) for m in run_job(job)]


def _run(job: Job, isolate: bool) -> list[Measurement]:
    if not isolate:
        return run_job(job)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [Measurement(**m) for m in pool.submit(_run_isolated, job).result()]


def _empty_store(engine: Engine, admin: Engine) -> None:
    tables = ", ".join(t.name for t in reversed(models.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("CHECKPOINT"))  # so no method pays for the previous one's dirty pages
    except sa.exc.DBAPIError:
        pass  # not allowed for this role: the figures are a little noisier, nothing more


def _machine(admin: Engine) -> dict[str, Any]:
    with admin.connect() as conn:
        pg = conn.execute(sa.text("SHOW server_version")).scalar_one()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg,
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        # Other work on the machine skews every figure; the load says how much to trust them.
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def run_benchmark(
    rows: int = 100_000,
    subset_rows: int = 10_000,
    batch_size: int = 5000,
    *,
    pg_admin_url: str = PG_ADMIN_URL,
    isolate: bool = True,
    executemany: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Generate the export, measure every method side by side, and drop the throw-away stores."""
    say = progress or (lambda _msg: None)
    subset_rows = min(subset_rows, rows)
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    name = f"cs_bench_{uuid.uuid4().hex[:10]}"
    pg_url = pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    report = Report(rows, subset_rows, batch_size, isolate, name, _machine(admin))
    with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
        full = write_csv(Path(tmp) / "shopify.csv", SHOPIFY_HEADER, shopify_rows(rows))
        # The row-at-a-time methods get the file's first rows: same data, a bearable run time.
        subset = write_csv(Path(tmp) / "shopify-subset.csv", SHOPIFY_HEADER, shopify_rows(subset_rows))
        sqlite_url = f"sqlite:///{Path(tmp) / 'customer_sync.db'}"
        plan = [
            Job("project-postgresql", pg_url, str(full), rows, batch_size),
            Job("project-sqlite", sqlite_url, str(full), rows, batch_size),
            Job("orm-postgresql", pg_url, str(subset), subset_rows, batch_size),
            *(
                [Job("executemany-postgresql", pg_url, str(subset), subset_rows, batch_size)]
                if executemany
                else []
            ),
            Job("map-only", "", str(subset), subset_rows, batch_size),
        ]
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            models.upgrade(pg_url)
            models.ensure_schema(sqlite_url)
            for job in plan:
                if job.url == pg_url:
                    _empty_store(get_engine(pg_url), admin)
                say(f"{job.method}: {job.rows:,} rows")
                report.results.extend(_run(job, isolate))
        finally:
            for url in (pg_url, sqlite_url):
                get_engine(url).dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    report.machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    for m in report.results:
        base = report.result(BASELINE, FIRST if m.phase == MAP_ONLY else m.phase)
        m.ratio = m.rows_per_s / base.rows_per_s if base.rows_per_s else None
    return report


def format_table(report: Report) -> str:
    """The measurements as a plain-text table."""
    m = report.machine
    rss = "own process" if report.isolated else "whole process, cumulative"
    lines = [
        f"CSV import benchmark, {report.date}: Shopify export, batch {report.batch_size:,}, "
        f"{m['cpus']} CPUs, Python {m['python']}, PostgreSQL {m['postgresql']}, SQLite {m['sqlite']}",
        f"load average {m['loadavg_start']} at start, {m['loadavg_end']} at end",
        f"cpu s = CPU time of the measuring process (the database server's is not in it); "
        f"ratio = rows/s ÷ project PostgreSQL rows/s of the same phase; peak RSS MiB: {rss} (at start)",
        "",
        f"{'method':<54} {'store':<10} {'phase':<12} {'rows':>8} {'seconds':>8} {'cpu s':>7} "
        f"{'rows/s':>8} {'ratio':>7} {'peak RSS':>14}",
    ]
    for r in report.results:
        label, store = METHODS[r.method]
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        lines.append(
            f"{label:<54} {store:<10} {r.phase:<12} {r.rows:>8,} {r.seconds:>8.2f} {r.cpu_seconds:>7.2f} "
            f"{r.rows_per_s:>8,.0f} {ratio:>7} {r.peak_rss_mib:>6.0f} ({r.rss_start_mib:>4.0f})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.csv_import",
        description="Measure the CSV customer import side by side: this project's pipeline on "
        "PostgreSQL and SQLite, a row-by-row SQLModel import and plain executemany upserts. "
        "Creates and drops its own PostgreSQL database.",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the export (default 100000)")
    parser.add_argument(
        "--subset-rows",
        type=int,
        default=10_000,
        help="rows (the export's first) for the row-at-a-time methods: ORM, executemany, map-only "
        "(default 10000)",
    )
    parser.add_argument("--batch-size", type=int, default=5000, help="rows per batch/commit (default 5000)")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="where to create the throw-away DB")
    parser.add_argument("--no-executemany", action="store_true", help="skip the executemany method")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every method in this process (for `python -m cProfile`); RSS is then cumulative",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    if min(args.rows, args.subset_rows, args.batch_size) < 1:
        parser.error("--rows, --subset-rows and --batch-size must be positive")
    configure_logging("WARNING")
    report = run_benchmark(
        args.rows,
        args.subset_rows,
        args.batch_size,
        pg_admin_url=args.pg_admin_url,
        isolate=not args.in_process,
        executemany=not args.no_executemany,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
