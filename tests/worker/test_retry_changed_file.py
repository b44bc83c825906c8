"""`runs retry` of a CSV run whose file changed: refused before queueing, and a worker's retry says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from celery import Celery
from typer.testing import CliRunner

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from sync.cli import app
from tests.worker.conftest import Processes, wait_for


@pytest.fixture
def failed_run(processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A CSV run in the workers' store, recorded failed, whose file was then rewritten: not resumable."""
    for key in ("CELERY_BROKER_URL", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", processes.store_url)
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(5, seed=4))
    done = CliRunner().invoke(app, ["import", "csv", str(path), "--json"])
    assert done.exit_code == 0, done.output
    run_id = str(json.loads(done.stdout)["run_id"])
    with get_engine(processes.store_url).begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE sync_run SET status = 'failed', error = 'OperationalError: db gone' WHERE id = :i"
            ),
            {"i": run_id},
        )
    write_csv(path, SHOPIFY_HEADER, shopify_rows(6, seed=5))
    return run_id


def _use_the_broker(processes: Processes, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in processes.env().items():
        if key.startswith("CELERY_"):
            monkeypatch.setenv(key, value)


def _run(url: str, run_id: str) -> tuple[str, str]:
    with get_engine(url).connect() as conn:
        row = conn.execute(sa.text("SELECT status, error FROM sync_run WHERE id = :i"), {"i": run_id}).one()
    return str(row.status), str(row.error)


def test_runs_retry_refuses_a_changed_file_in_one_line_before_queueing(
    failed_run: str, processes: Processes, client_app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_the_broker(processes, monkeypatch)
    queue = f"{processes.broker.prefix}{processes.broker.queue}"  # the Redis list a sent task lands in
    client = redis.Redis.from_url(processes.broker.url)
    try:
        assert client.llen(queue) == 0
        result = CliRunner().invoke(app, ["runs", "retry", failed_run])
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1
        assert f"changed since run {failed_run}" in result.stderr
        assert client.llen(queue) == 0
        # The control: a retry sent for this run does land in that list (no worker is up to take it).
        client_app.send_task("sync.run.retry", kwargs={"run_id": failed_run})
        assert client.llen(queue) == 1
    finally:
        client.delete(queue)  # later tests of the session share the queue
        client.close()
    assert _run(processes.store_url, failed_run) == ("failed", "OperationalError: db gone")


def test_a_retry_task_that_gives_up_leaves_its_reason_on_the_run(
    failed_run: str, processes: Processes, client_app: Celery
) -> None:
    worker = processes.worker(client_app)
    sent = client_app.send_task("sync.run.retry", kwargs={"run_id": failed_run})
    # The task's result is stored before its on_failure hook writes the run: wait for the run.
    wait_for(lambda: "changed since run" in _run(processes.store_url, failed_run)[1], 60, worker)
    sent.get(timeout=30, propagate=False)
    assert sent.failed()
    status, error = _run(processes.store_url, failed_run)
    assert status == "failed"
    assert error.startswith("FatalSourceError: ") and f"changed since run {failed_run}" in error
    shown = json.loads(CliRunner().invoke(app, ["runs", "show", failed_run, "--json"]).stdout)
    assert shown["error"] == error
