"""A fanned-out run the CLI carries on in-process ends as an unchunked one would: failed is exit 1."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import sync.jobs.csv as csv_job
from models import get_engine
from sync.cli import app
from sync.jobs import (
    BulkFanOut,
    FanOut,
    fan_out_salesforce,
    load_salesforce_page,
    queue_csv,
    run_csv,
    salesforce_bulk,
)
from sync.pipeline import PagePlan, fail_chunk, fail_page
from sync.settings import Settings
from tests.fakes import salesforce
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.helpers import settings_for, table_rows
from tests.sync.test_salesforce_sync import add_people, an_hour_ago

fake = salesforce.fake_salesforce

ROWS = 300
GAVE_UP = "was delivered 4 times without finishing"


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "firstname", "lastname"])
        writer.writerows([f"p{i}@example.com", f"P{i}", "Person"] for i in range(ROWS))
    return path


def expire_leases(url: str) -> None:
    """The workers that held the run's stream died, and their lease has run out."""
    with get_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE run_lease SET expires_at = :past"), {"past": "2000-01-01 00:00:00"})


def fanned_out_csv(url: str, path: Path, preset_name: str | None = None) -> str:
    """A customers file a worker cut into chunks and sent, none of them loaded yet."""
    settings = settings_for(url, batch_size=20, csv_fanout_min_bytes=1, csv_chunk_bytes=2048)
    run_id = queue_csv(settings, path, preset_name=preset_name)
    fanned = run_csv(settings, run_id, token="w" * 32, fan_out=True)
    assert isinstance(fanned, FanOut) and len(fanned.chunks) >= 3
    expire_leases(url)
    return run_id


def _said(stderr: str) -> list[str]:
    """What standard error says to a person, without the JSON log lines."""
    return [line for line in stderr.splitlines() if line and not line.startswith("{")]


def test_runs_resume_of_a_chunked_run_that_ends_failed_exits_1_naming_it(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = fanned_out_csv(db_url, _file(tmp_path))
    real = csv_job.run_csv_chunk

    def and_a_worker_gives_up(settings: Settings, run: str, index: int, token: str) -> bool:
        last = real(settings, run, index, token)
        if index == 0:
            # Meanwhile a worker's delivery of chunk 2 gave up (its retries spent on the
            # stream this process holds), and failed the run.
            fail_chunk(get_engine(db_url), run, 2, f"chunk 2 {GAVE_UP}")
        return last

    monkeypatch.setattr(csv_job, "run_csv_chunk", and_a_worker_gives_up)
    done = CliRunner().invoke(app, ["runs", "resume", run_id, "--json"], env={"DATABASE_URL": db_url})

    assert done.exit_code == 1, done.output
    assert _said(done.stderr) == [f"error: run {run_id} failed: chunk 2: chunk 2 {GAVE_UP}"]
    summary = json.loads(done.stdout)
    assert (summary["run_id"], summary["status"]) == (run_id, "failed")
    assert summary["error"] == f"chunk 2: chunk 2 {GAVE_UP}"
    (run,) = table_rows(db_url, "sync_run", order_by="started_at")
    assert run["status"] == "failed"


@dataclass(frozen=True)
class PagedRun:
    """A Bulk run a worker fanned out by page, page 0 loaded before the workers died."""

    run_id: str
    settings: Settings
    # The pages handed on so far (page 1), and the environment of a shell that reaches the org.
    sent: list[PagePlan]
    env: dict[str, str]


def paged_run(url: str, org: FakeSalesforce) -> PagedRun:
    """The org's contacts read by a Bulk run fanned out into pages of 200."""
    knobs: dict[str, Any] = {
        "salesforce_bulk_threshold": 100,
        "salesforce_bulk_page_size": 200,
        "batch_size": 50,
        "salesforce_bulk_poll_seconds": 0.01,
    }
    token = org.issue_token()
    settings = Settings(
        database_url=url,
        salesforce_instance_url=org.url,
        salesforce_access_token=token,
        salesforce_ca_bundle=org.ca_path,
        **knobs,
    )
    outcome = fan_out_salesforce(settings, full=True, task_id="w" * 32)
    assert isinstance(outcome, BulkFanOut)
    sent: list[PagePlan] = []
    assert load_salesforce_page(settings, outcome.run_id, outcome.pages[0], sent.append) is False
    expire_leases(url)
    env = {
        "DATABASE_URL": url,
        "SALESFORCE_INSTANCE_URL": org.url,
        "SALESFORCE_ACCESS_TOKEN": token,
        "SALESFORCE_CA_BUNDLE": str(org.ca_path),
        **{k.upper(): str(v) for k, v in knobs.items()},
    }
    return PagedRun(outcome.run_id, settings, sent, env)


def test_runs_resume_of_a_paged_run_that_ends_failed_exits_1_naming_it(
    pg_only_url: str, fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_people(fake, 1000, stamp=an_hour_ago())
    paged = paged_run(pg_only_url, fake)
    run_id = paged.run_id
    real: Callable[..., bool] = salesforce_bulk.load_page

    def and_a_worker_gives_up(*args: Any, **kwargs: Any) -> bool:
        last = real(*args, **kwargs)
        # Meanwhile a worker's delivery of page 2 (handed on by page 1) gave up, and failed the run.
        fail_page(get_engine(pg_only_url), run_id, 2, f"page 2 {GAVE_UP}")
        return last

    monkeypatch.setattr(salesforce_bulk, "load_page", and_a_worker_gives_up)
    done = CliRunner().invoke(app, ["runs", "resume", run_id], env=paged.env)

    assert done.exit_code == 1, done.output
    assert _said(done.stderr) == [f"error: run {run_id} failed: page 2: page 2 {GAVE_UP}"]
    assert done.stdout == ""
    (run,) = table_rows(pg_only_url, "sync_run", order_by="started_at")
    assert run["status"] == "failed"
    pages = table_rows(pg_only_url, "sync_page", order_by='"index"')
    assert [p["status"] for p in pages] == ["done", "done", "failed"]


def test_ctrl_c_while_runs_resume_loads_a_chunked_run_pauses_it_for_the_next_resume(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = fanned_out_csv(db_url, _file(tmp_path))
    real = csv_job.run_csv_chunk

    def interrupted_at_chunk_1(settings: Settings, run: str, index: int, token: str) -> bool:
        if index == 1:
            raise KeyboardInterrupt
        return real(settings, run, index, token)

    monkeypatch.setattr(csv_job, "run_csv_chunk", interrupted_at_chunk_1)
    env = {"DATABASE_URL": db_url}
    stopped = CliRunner().invoke(app, ["runs", "resume", run_id], env=env)

    assert stopped.exit_code == 130, stopped.output
    assert _said(stopped.stderr) == [
        f"interrupted: run {run_id} paused after its last committed batch; "
        f"`customer-sync runs resume {run_id}` carries it on"
    ]
    (run,) = table_rows(db_url, "sync_run", order_by="started_at")
    assert (run["status"], run["error"]) == ("paused", "interrupted (Ctrl-C)")
    assert table_rows(db_url, "run_lease", order_by="run_id") == []

    monkeypatch.setattr(csv_job, "run_csv_chunk", real)
    resumed = CliRunner().invoke(app, ["runs", "resume", run_id, "--json"], env=env)
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert (summary["status"], summary["read"], summary["created"]) == ("succeeded", ROWS, ROWS)
