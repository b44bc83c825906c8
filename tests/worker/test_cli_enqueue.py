"""The command line with a broker: `--enqueue` and `runs retry` hand work to a real worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from celery import Celery
from typer.testing import CliRunner

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from sync.cli import app
from tests.worker.conftest import Processes, wait_for


def _status(url: str, run_id: str) -> str | None:
    with get_engine(url).connect() as conn:
        found = conn.execute(sa.text("SELECT status FROM sync_run WHERE id = :i"), {"i": run_id}).scalar()
    return None if found is None else str(found)


def test_enqueue_prints_the_run_id_and_runs_retry_carries_a_failed_run_on(
    processes: Processes, client_app: Celery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in processes.env().items():
        if key.startswith(("CELERY_", "DATABASE_URL")):
            monkeypatch.setenv(key, value)
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(400, seed=4))
    processes.worker(client_app)

    queued = CliRunner().invoke(app, ["import", "csv", str(path), "--enqueue", "--json"])
    assert queued.exit_code == 0, queued.output
    sent = json.loads(queued.stdout)
    assert sent["status"] == "queued"
    wait_for(lambda: _status(processes.store_url, sent["run_id"]) == "succeeded", 60)

    listed = json.loads(CliRunner().invoke(app, ["runs", "list", "--json"]).stdout)
    assert [(r["id"], r["trigger"], r["task_id"], r["read"]) for r in listed] == [
        (sent["run_id"], "cli", sent["task_id"], 400)
    ]

    # An operator retries a run that failed: it resumes from its checkpoint, nothing counted twice.
    with get_engine(processes.store_url).begin() as conn:
        conn.execute(sa.text("UPDATE sync_run SET status = 'failed' WHERE id = :i"), {"i": sent["run_id"]})
    failed = json.loads(CliRunner().invoke(app, ["runs", "list", "--status", "failed", "--json"]).stdout)
    assert [r["id"] for r in failed] == [sent["run_id"]]
    retried = CliRunner().invoke(app, ["runs", "retry", sent["run_id"], "--json"])
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["run_id"] == sent["run_id"]
    wait_for(lambda: _status(processes.store_url, sent["run_id"]) == "succeeded", 60)
    again = json.loads(CliRunner().invoke(app, ["runs", "show", sent["run_id"], "--json"]).stdout)
    assert (again["read"], again["created"], again["task_id"]) == (
        400,
        400,
        json.loads(retried.stdout)["task_id"],
    )

    done = CliRunner().invoke(app, ["runs", "retry", sent["run_id"]])
    assert done.exit_code == 2
    assert "already succeeded" in done.stderr


def test_enqueue_without_a_broker_is_refused_in_one_line(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("CELERY_BROKER_URL", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(5, seed=4))
    result = CliRunner().invoke(app, ["import", "csv", str(path), "--enqueue"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "CELERY_BROKER_URL" in result.stderr
