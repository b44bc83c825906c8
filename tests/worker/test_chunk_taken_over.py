"""A chunk task whose chunk another delivery took over ends quietly; the run goes on whole."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from celery import Celery

from bench.exports import SHOPIFY_HEADER, shopify_rows
from models import get_engine
from sync.jobs import FanOut, import_csv, queue_csv, run_csv
from sync.pipeline import SUMMARY_KEYS
from sync.settings import Settings
from tests.conftest import truncate_all
from tests.sync.helpers import golden_view, table_rows
from tests.worker.conftest import Processes, wait_for

ROWS = 1500
RUN = "e" * 32
OWNER = "owner-task"
# One chunk of many small batches, so the test can move its position while a worker loads it.
KNOBS: dict[str, Any] = {"batch_size": 20, "csv_fanout_min_bytes": 1, "csv_chunk_bytes": 64 * 1024 * 1024}


def _run(url: str) -> dict[str, Any]:
    with get_engine(url).connect() as conn:
        return dict(conn.execute(sa.text("SELECT * FROM sync_run")).mappings().one())


def _chunk(url: str) -> dict[str, Any]:
    [chunk] = table_rows(url, "sync_chunk", order_by="index")
    return chunk


def _move_position(url: str, by: int) -> None:
    # What another delivery of the chunk does when it commits a batch first: the position
    # the loading delivery's next batch is guarded by moves under it.
    with get_engine(url).begin() as conn:
        moved = conn.execute(
            sa.text(
                "UPDATE sync_chunk SET records = records + :by WHERE run_id = :run AND status = 'running'"
            ),
            {"by": by, "run": RUN},
        ).rowcount
    assert moved == 1, "the chunk was no longer loading"


def test_a_chunk_taken_over_by_another_delivery_ends_its_task_quietly(
    processes: Processes, client_app: Celery, tmp_path: Path
) -> None:
    url = processes.store_url
    path = tmp_path / "shop.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(SHOPIFY_HEADER)
        writer.writerows(shopify_rows(ROWS, garbage=0.01, seed=9))
    settings = Settings(database_url=url, **KNOBS)
    reference = import_csv(settings.model_copy(update={"batch_size": 500}), path).as_dict()
    clean_store = golden_view(url)
    truncate_all(get_engine(url))

    # The run fanned out as an import task does it, under the task's id as its owner.
    queue_csv(settings, path, run_id=RUN, task_id=OWNER)
    fanned = run_csv(settings, RUN, token=OWNER, fan_out=True)
    assert isinstance(fanned, FanOut)
    [plan] = fanned.chunks
    chunk_args = {"run_id": RUN, "index": plan.index, "start": plan.start, "end": plan.end}

    worker = processes.worker(client_app, **KNOBS)
    sent = client_app.send_task("sync.csv.chunk", kwargs=chunk_args)
    wait_for(lambda: _chunk(url)["records"] > 0, 60, worker)
    _move_position(url, 1)

    assert sent.get(timeout=60) == {"run_id": RUN, "index": plan.index, "last": False}
    assert sent.state == "SUCCESS"
    assert _run(url)["status"] == "running", "losing the chunk must not fail its run"
    assert _chunk(url)["status"] == "running"
    assert "slice.taken_over" in worker.log.read_text(errors="replace")

    # The other delivery carries the chunk on from where it stands; the run ends as a clean one.
    _move_position(url, -1)
    again = client_app.send_task("sync.csv.chunk", kwargs=chunk_args)
    assert again.get(timeout=90) == {"run_id": RUN, "index": plan.index, "last": True}
    wait_for(lambda: _run(url)["status"] == "succeeded", 60, worker)
    run = _run(url)
    assert {k: run[k] for k in SUMMARY_KEYS} == {k: reference[k] for k in SUMMARY_KEYS}
    assert golden_view(url) == clean_store
