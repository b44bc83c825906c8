"""A real worker process on the real Redis runs an import sent by name, and records it."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from celery import Celery

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from tests.worker.conftest import Processes


def test_a_worker_process_runs_a_csv_import_sent_by_name(
    processes: Processes, client_app: Celery, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(300, seed=3))
    processes.worker(client_app)
    result = client_app.send_task(
        "sync.csv.import", kwargs={"path": str(path), "run_id": "a" * 32, "trigger": "cli"}
    )
    summary = result.get(timeout=60)
    assert summary["status"] == "succeeded"
    assert summary["read"] == summary["created"] == 300
    with get_engine(processes.store_url).connect() as conn:
        run = conn.execute(sa.text("SELECT * FROM sync_run WHERE id = :i"), {"i": "a" * 32}).mappings().one()
    assert (run["status"], run["trigger"], run["task_id"]) == ("succeeded", "cli", result.id)
    # Flower reads the task's name and arguments back from the result (result_extended).
    assert result.name == "sync.csv.import"
    assert result.kwargs["path"] == str(path)


def test_a_prefork_worker_maps_inline_when_mapping_workers_asks_for_a_pool(
    processes: Processes, client_app: Celery, tmp_path: Path
) -> None:
    """A prefork child is daemonic and may not fork a mapping pool: MAPPING_WORKERS=2 there
    maps inline and says so, instead of failing the run on multiprocessing's assertion."""
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(120, seed=5))
    worker = processes.worker(client_app, pool="prefork", mapping_workers=2, batch_size=50)
    result = client_app.send_task("sync.csv.import", kwargs={"path": str(path), "trigger": "cli"})
    summary = result.get(timeout=60)
    assert summary["status"] == "succeeded", summary
    assert summary["read"] == summary["created"] == 120
    assert "mapping.pool_unavailable" in worker.log.read_text(errors="replace")
