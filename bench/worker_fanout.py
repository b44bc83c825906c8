"""One worker process against two: a customer CSV fanned out into chunks, or a Salesforce Bulk job into pages."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
import sqlalchemy as sa
from celery import Celery

import models
from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from sync.celery import close_app, make_app
from sync.settings import Settings

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
CELERY = Path(sys.executable).with_name("celery")


@dataclass(frozen=True, slots=True)
class Result:
    workers: int
    rows: int
    chunks: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def _database(admin: sa.Engine) -> str:
    name = f"cs_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    models.upgrade(url)
    return url


def _drop(admin: sa.Engine, url: str) -> None:
    models.get_engine(url).dispose()
    models.get_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


# Sends the import (the app, a run id for it); then counts its chunks or pages (a connection, run id).
Send = Callable[[Celery, str], None]
Slices = Callable[[sa.Connection, str], int]


def _csv(path: Path) -> tuple[Send, Slices]:
    def send(app: Celery, run_id: str) -> None:
        app.send_task("sync.csv.import", kwargs={"path": str(path), "run_id": run_id, "trigger": "operator"})

    def chunks(conn: sa.Connection, run_id: str) -> int:
        checkpoint = conn.execute(
            sa.text("SELECT checkpoint FROM sync_run WHERE id = :i"), {"i": run_id}
        ).scalar()
        return int((checkpoint or {}).get("chunks", 1))

    return send, chunks


def _salesforce() -> tuple[Send, Slices]:
    def send(app: Celery, run_id: str) -> None:
        # The stream task opens its own run; the database is fresh, so it is the only one.
        app.send_task("sync.salesforce.contacts", kwargs={"full": True, "trigger": "operator"})

    def pages(conn: sa.Connection, run_id: str) -> int:
        return int(conn.execute(sa.text("SELECT count(*) FROM sync_page")).scalar_one())

    return send, pages


def measure(
    rows: int, workers: int, env: dict[str, str], admin: sa.Engine, how: tuple[Send, Slices]
) -> Result:
    """Import on `workers` worker processes; the time from sending to the run's end."""
    send, slices = how
    url = _database(admin)
    env = {**env, "DATABASE_URL": url}
    settings = Settings(
        celery_broker_url=env["CELERY_BROKER_URL"],
        celery_queue=env["CELERY_QUEUE"],
        celery_key_prefix=env["CELERY_KEY_PREFIX"],
    )
    app = make_app(settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(workers):
            name = f"bench{i}-{uuid.uuid4().hex[:6]}@%h"
            command = [
                str(CELERY),
                "-A",
                "sync",
                "worker",
                "-P",
                "solo",
                "-Q",
                env["CELERY_QUEUE"],
                "-n",
                name,
            ]
            procs.append(
                subprocess.Popen(
                    [*command, "--without-gossip", "--without-mingle", "-l", "WARNING"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=1)) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not come up")
        run_id = uuid.uuid4().hex
        engine = models.get_engine(url)
        started = time.perf_counter()
        send(app, run_id)
        while True:
            time.sleep(0.1)
            with engine.connect() as conn:
                run = conn.execute(sa.text("SELECT id, status, read FROM sync_run")).first()
            if run is not None and run.status in ("succeeded", "failed", "paused"):
                break
        seconds = time.perf_counter() - started
        if run.status != "succeeded" or run.read != rows:
            raise RuntimeError(f"the run ended {run.status} having read {run.read} of {rows}")
        with engine.connect() as conn:
            return Result(workers, rows, slices(conn, run.id), seconds)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
        close_app(app)
        _drop(admin, url)


@contextmanager
def _csv_source(args: argparse.Namespace, env: dict[str, str]) -> Iterator[tuple[Send, Slices]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "customers.csv", SHOPIFY_HEADER, shopify_rows(args.rows, seed=7))
        size = path.stat().st_size
        print(
            f"export: {args.rows:,} rows, {size / 2**20:.1f} MiB; chunks of {args.chunk_bytes / 2**20:.1f} MiB",
            file=sys.stderr,
        )
        yield _csv(path)


@contextmanager
def _salesforce_source(args: argparse.Namespace, env: dict[str, str]) -> Iterator[tuple[Send, Slices]]:
    # The fake org of the tests, served from this process: the only org a benchmark may use.
    # Its Bulk pages are built in Python here, beside the workers, on the same cores.
    from tests.fakes.salesforce import FakeSalesforce

    with FakeSalesforce() as org:
        org.enforce_api_limit = False
        start = time.time() - 86_400
        for i, row in enumerate(shopify_rows(args.rows, seed=7, garbage=0.0)):
            org.org.add_contact(
                stamp=datetime.fromtimestamp(start + i / 10, UTC),
                FirstName=row[1] or f"P{i}",
                LastName=row[2] or "Person",
                Email=row[3] or None,
                MailingCity=row[8] or None,
            )
        env.update(
            SALESFORCE_INSTANCE_URL=org.url,
            SALESFORCE_ACCESS_TOKEN=org.issue_token(),
            SALESFORCE_CA_BUNDLE=org.ca_path,
            SALESFORCE_BULK_THRESHOLD="1",
            SALESFORCE_BULK_PAGE_SIZE=str(args.page_size),
            SALESFORCE_BULK_POLL_SECONDS="0.2",
        )
        print(f"org: {args.rows:,} contacts; Bulk pages of {args.page_size:,}", file=sys.stderr)
        yield _salesforce()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_fanout", description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the export (default 200000)")
    parser.add_argument(
        "--chunk-bytes", type=int, default=2 * 1024 * 1024, help="bytes per chunk (default 2 MiB)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--source",
        choices=("csv", "salesforce"),
        default="csv",
        help="csv: a Shopify export in chunks; salesforce: a fake org's Bulk 2.0 job in result pages",
    )
    parser.add_argument(
        "--page-size", type=int, default=10_000, help="Bulk result page size, salesforce (default 10000)"
    )
    args = parser.parse_args(argv)

    tag = uuid.uuid4().hex[:8]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CELERY_")},
        "CELERY_BROKER_URL": args.redis_url,
        "CELERY_QUEUE": f"cs-bench-{tag}",
        "CELERY_KEY_PREFIX": f"cs-bench-{tag}:",
        "CSV_FANOUT_MIN_BYTES": "1",
        "CSV_CHUNK_BYTES": str(args.chunk_bytes),
        "LOG_LEVEL": "WARNING",
    }
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    source = _csv_source if args.source == "csv" else _salesforce_source
    results = []
    with source(args, env) as how:
        try:
            for workers in (1, 2):
                print(f"importing with {workers} worker process(es)…", file=sys.stderr)
                results.append(measure(args.rows, workers, env, admin, how))
        finally:
            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(f"cs-bench-{tag}:*"):
                client.delete(key)
            client.close()
            admin.dispose()
    one = results[0]
    slices = "chunks" if args.source == "csv" else "pages"
    print(f"{'workers':>7}  {'rows':>8}  {slices:>6}  {'seconds':>8}  {'rows/s':>8}  {'vs 1':>5}")
    for r in results:
        print(
            f"{r.workers:>7}  {r.rows:>8,}  {r.chunks:>6}  {r.seconds:>8.1f}  {r.rows_per_s:>8,.0f}  {r.rows_per_s / one.rows_per_s:>5.2f}"
        )
    print(f"cores: {os.cpu_count()} (the database, Redis and the workers share them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
