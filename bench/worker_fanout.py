"""One worker process against two: a generated customer CSV fanned out into chunks, into PostgreSQL."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
import sqlalchemy as sa

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


def measure(path: Path, rows: int, workers: int, env: dict[str, str], admin: sa.Engine) -> Result:
    """Import `path` on `workers` worker processes; the time from sending to the run's end."""
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
        app.send_task("sync.csv.import", kwargs={"path": str(path), "run_id": run_id, "trigger": "operator"})
        while True:
            time.sleep(0.1)
            with engine.connect() as conn:
                run = conn.execute(
                    sa.text("SELECT status, read, checkpoint FROM sync_run WHERE id = :i"), {"i": run_id}
                ).first()
            if run is not None and run.status in ("succeeded", "failed"):
                break
        seconds = time.perf_counter() - started
        if run.status != "succeeded" or run.read != rows:
            raise RuntimeError(f"the run ended {run.status} having read {run.read} of {rows}")
        return Result(workers, rows, int((run.checkpoint or {}).get("chunks", 1)), seconds)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
        close_app(app)
        _drop(admin, url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_fanout", description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the export (default 200000)")
    parser.add_argument(
        "--chunk-bytes", type=int, default=2 * 1024 * 1024, help="bytes per chunk (default 2 MiB)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
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
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "customers.csv", SHOPIFY_HEADER, shopify_rows(args.rows, seed=7))
        size = path.stat().st_size
        print(
            f"export: {args.rows:,} rows, {size / 2**20:.1f} MiB; chunks of {args.chunk_bytes / 2**20:.1f} MiB",
            file=sys.stderr,
        )
        results = []
        try:
            for workers in (1, 2):
                print(f"importing with {workers} worker process(es)…", file=sys.stderr)
                results.append(measure(path, args.rows, workers, env, admin))
        finally:
            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(f"cs-bench-{tag}:*"):
                client.delete(key)
            client.close()
            admin.dispose()
    one = results[0]
    print(f"{'workers':>7}  {'rows':>8}  {'chunks':>6}  {'seconds':>8}  {'rows/s':>8}  {'vs 1':>5}")
    for r in results:
        print(
            f"{r.workers:>7}  {r.rows:>8,}  {r.chunks:>6}  {r.seconds:>8.1f}  {r.rows_per_s:>8,.0f}  {r.rows_per_s / one.rows_per_s:>5.2f}"
        )
    print(f"cores: {os.cpu_count()} (the database, Redis and the workers share them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
