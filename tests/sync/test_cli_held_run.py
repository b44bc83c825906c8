"""A run whose lease is still live is refused in one line that says when it can be resumed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import sync.cli.runs
from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine, utcnow
from sync.cli import app
from sync.pipeline import Lease
from sync.pipeline.lease import acquire, release

LEASE_SECONDS = 90


@pytest.fixture
def crashed_run(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A run left `running` whose dead importer's lease has LEASE_SECONDS to go, as after kill -9."""
    for key in ("CELERY_BROKER_URL", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(5, seed=4))
    done = CliRunner().invoke(app, ["import", "csv", str(path), "--json"])
    assert done.exit_code == 0, done.output
    run_id = str(json.loads(done.stdout)["run_id"])
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sync_run SET status = 'running' WHERE id = :i"), {"i": run_id})
        run = conn.execute(sa.text("SELECT source, stream FROM sync_run WHERE id = :i"), {"i": run_id}).one()
    lease = Lease(run.source, run.stream, run_id, "killed-process", LEASE_SECONDS)
    assert acquire(engine, lease) is None
    yield run_id
    # The store outlives the test; tests that do not empty it would find the stream held.
    with engine.begin() as conn:
        release(conn, lease)


@pytest.mark.parametrize("command", ["resume", "retry"])
def test_a_run_whose_lease_is_live_is_refused_saying_when_the_lease_runs_out(
    command: str, crashed_run: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = crashed_run
    if command == "retry":
        # With a broker, `runs retry` checks the lease itself before queueing anything.
        monkeypatch.setenv("CELERY_BROKER_URL", "redis://localhost:1/0")
        monkeypatch.setattr(sync.cli.runs, "enqueue", lambda *_: pytest.fail("a held run was queued"))
    before = utcnow()

    refused = CliRunner().invoke(app, ["runs", command, run_id])

    assert refused.exit_code == 2, refused.output
    assert refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    # A live owner is still possible, so the message still says so; a dead one's lease runs out.
    assert f"run {run_id} is still running in another process, or its process died" in line
    assert "lease has not expired" in line
    found = re.search(r"expires in (\d+) s \(at (\S+ \S+) UTC\) unless renewed; resume it after that", line)
    assert found, line
    assert LEASE_SECONDS - 10 <= int(found[1]) <= LEASE_SECONDS
    at = datetime.fromisoformat(found[2] + "+00:00")
    assert before + timedelta(seconds=LEASE_SECONDS - 10) <= at <= utcnow() + timedelta(seconds=LEASE_SECONDS)
    assert line.endswith("nothing done")
