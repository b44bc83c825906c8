"""`runs retry` of a CSV run whose file changed: refused up front, and the run shows why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import sync.cli.runs
from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from sync.cli import app
from sync.settings import get_settings
from sync.tasks.runs import retry_run


@pytest.fixture
def failed_run(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A CSV run recorded failed whose file was then rewritten: it cannot be resumed."""
    for key in ("CELERY_BROKER_URL", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(5, seed=4))
    done = CliRunner().invoke(app, ["import", "csv", str(path), "--json"])
    assert done.exit_code == 0, done.output
    run_id = str(json.loads(done.stdout)["run_id"])
    with get_engine(sqlite_url).begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE sync_run SET status = 'failed', error = 'OperationalError: db gone' WHERE id = :i"
            ),
            {"i": run_id},
        )
    write_csv(path, SHOPIFY_HEADER, shopify_rows(6, seed=5))
    get_settings.cache_clear()
    yield run_id
    get_settings.cache_clear()


def _error(url: str, run_id: str) -> tuple[str, str]:
    with get_engine(url).connect() as conn:
        row = conn.execute(sa.text("SELECT status, error FROM sync_run WHERE id = :i"), {"i": run_id}).one()
    return str(row.status), str(row.error)


def test_runs_retry_refuses_a_changed_file_in_one_line_before_queueing(
    failed_run: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://localhost:1/0")
    sent: list[str] = []
    monkeypatch.setattr(sync.cli.runs, "enqueue", lambda *a: sent.append(a[1]) or "task-1")
    result = CliRunner().invoke(app, ["runs", "retry", failed_run])
    assert result.exit_code == 2, result.output
    assert sent == []
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"changed since run {failed_run}" in result.stderr


def test_a_retry_task_that_gives_up_leaves_its_reason_on_the_run(failed_run: str, sqlite_url: str) -> None:
    outcome = retry_run.apply(kwargs={"run_id": failed_run})
    assert outcome.failed()
    status, error = _error(sqlite_url, failed_run)
    assert status == "failed"
    assert error.startswith("FatalSourceError: ") and f"changed since run {failed_run}" in error
    shown = json.loads(CliRunner().invoke(app, ["runs", "show", failed_run, "--json"]).stdout)
    assert shown["error"] == error
