"""Two runs of one stream started together on two workers: one runs, the other is `skipped`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from celery import Celery

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from tests.worker.conftest import Processes


def test_two_runs_of_one_stream_at_once_one_runs_one_is_skipped(
    processes: Processes, client_app: Celery, tmp_path: Path
) -> None:
    # Two Shopify exports are one stream (source shopify, stream file); batches of 500 keep
    # the first run going well after the second one starts.
    first = write_csv(tmp_path / "a.csv", SHOPIFY_HEADER, shopify_rows(6000, seed=1))
    second = write_csv(tmp_path / "b.csv", SHOPIFY_HEADER, shopify_rows(6000, start=6000, seed=1))
    processes.worker(client_app, batch_size=500)
    processes.worker(client_app, batch_size=500)
    sent = [
        client_app.send_task("sync.csv.import", kwargs={"path": str(p), "run_id": rid, "trigger": "cli"})
        for p, rid in ((first, "1" * 32), (second, "2" * 32))
    ]
    outcomes = {r.get(timeout=90)["status"] for r in sent}
    assert outcomes == {"succeeded", "skipped"}
    with get_engine(processes.store_url).connect() as conn:
        runs = {
            r.id: r
            for r in conn.execute(sa.text("SELECT id, status, held_by, error, read FROM sync_run")).all()
        }
    ran = next(r for r in runs.values() if r.status == "succeeded")
    skipped = next(r for r in runs.values() if r.status == "skipped")
    assert skipped.held_by == ran.id
    assert ran.id in skipped.error
    assert (ran.read, skipped.read) == (6000, 0)
