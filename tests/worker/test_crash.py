"""A worker SIGKILLed mid chunked import: its chunk comes back, and the store ends as a clean run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from celery import Celery
from typer.testing import CliRunner

from bench.exports import SHOPIFY_HEADER, shopify_rows
from models import get_engine
from sync.cli import app
from sync.jobs import import_csv
from sync.pipeline import SUMMARY_KEYS
from sync.settings import Settings
from tests.conftest import truncate_all
from tests.sync.helpers import golden_view, table_rows
from tests.worker.conftest import Processes, wait_for

ROWS = 4000
# Short enough that the killed worker's chunk comes back within seconds; every time limit
# and back-off below it, as Settings insists.
CRASH_SETTINGS: dict[str, Any] = {
    "celery_visibility_timeout_seconds": 5,
    "celery_task_time_limit_seconds": 4,
    "celery_task_soft_time_limit_seconds": 3,
    "celery_retry_backoff_max_seconds": 2,
    "batch_size": 100,
    "csv_fanout_min_bytes": 1,
    "csv_chunk_bytes": 64 * 1024,
}


def export_with_repeats(path: Path) -> Path:
    """A Shopify export with rejects, notes spanning lines, and ids that come back later."""
    rows = list(shopify_rows(ROWS, garbage=0.01, seed=5))
    for i in range(0, ROWS, 97):
        if len(rows[i]) == len(SHOPIFY_HEADER):
            rows[i][17] = f'first line\nsecond line, with "quotes" {i}'
    # Repeats of early ids near the end, changed: the later line must win, as read in order.
    repeats = [[*r[:1], "Later", *r[2:]] for r in rows[:ROWS:50] if len(r) == len(SHOPIFY_HEADER)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(SHOPIFY_HEADER)
        writer.writerows(rows + repeats)
    return path


def _run(url: str) -> dict[str, Any]:
    with get_engine(url).connect() as conn:
        return dict(conn.execute(sa.text("SELECT * FROM sync_run")).mappings().one())


def _chunks(url: str) -> list[dict[str, Any]]:
    return table_rows(url, "sync_chunk", order_by="index")


def test_a_worker_killed_mid_chunk_is_redelivered_and_the_store_ends_as_a_clean_run(
    processes: Processes, client_app: Celery, tmp_path: Path
) -> None:
    url = processes.store_url
    path = export_with_repeats(tmp_path / "shop.csv")

    reference = import_csv(Settings(database_url=url, batch_size=100), path).as_dict()
    clean_store = golden_view(url)
    clean_sources = {
        (r["source_id"], r["content_hash"], r["deleted"]) for r in table_rows(url, "customer_source")
    }
    truncate_all(get_engine(url))

    doomed = processes.worker(client_app, **CRASH_SETTINGS)
    client_app.send_task("sync.csv.import", kwargs={"path": str(path), "run_id": "c" * 32})
    # Kill it once a chunk has committed some batches but not all of them.
    wait_for(lambda: any(c["records"] > 0 and c["status"] == "running" for c in _chunks(url)), 60, doomed)
    doomed.kill()
    interrupted = _run(url)
    assert interrupted["status"] == "running"
    assert 0 < interrupted["read"] < reference["read"]

    survivor = processes.worker(client_app, **CRASH_SETTINGS)
    wait_for(lambda: _run(url)["status"] == "succeeded", 90, survivor)

    run = _run(url)
    assert {k: run[k] for k in SUMMARY_KEYS} == {k: reference[k] for k in SUMMARY_KEYS}
    assert golden_view(url) == clean_store
    assert {
        (r["source_id"], r["content_hash"], r["deleted"]) for r in table_rows(url, "customer_source")
    } == clean_sources
    chunks = _chunks(url)
    assert len(chunks) > 2
    assert all(c["status"] == "done" for c in chunks)
    assert max(c["deliveries"] for c in chunks) >= 2, "the killed chunk was delivered again"
    shown = CliRunner().invoke(app, ["runs", "show", "c" * 32, "--json"], env={"DATABASE_URL": url})
    assert [(c["index"], c["status"]) for c in json.loads(shown.stdout)["chunks"]] == [
        (c["index"], "done") for c in chunks
    ]
    with get_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM run_lease")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM sync_seen")).scalar() == 0
