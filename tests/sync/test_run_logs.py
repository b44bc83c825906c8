"""Every log line of a run carries its run id: the pipeline's own lines and the connector's alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from sync.log import configure_logging
from tests.fakes import salesforce
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.test_salesforce_sync import add_people, an_hour_ago, run_sync

EXE = Path(sys.executable).with_name("customer-sync")

fake = salesforce.fake_salesforce


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_line_of_a_csv_import_on_the_command_line_carries_its_run_id(tmp_path: Path) -> None:
    write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(400, garbage=0.05, seed=3))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LOG_", "BATCH_SIZE"))}
    env.update(BATCH_SIZE="100", LOG_LEVEL="DEBUG", LOG_JSON="true")
    result = subprocess.run(
        [str(EXE), "import", "csv", "shop.csv", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    lines = json_lines(result.stderr)
    assert {"run.start", "run.batch", "run.finished"} <= {line["event"] for line in lines}
    assert len([line for line in lines if line["event"] == "run.batch"]) == 4
    assert [line for line in lines if line.get("run_id") != run_id] == []


def test_connector_lines_during_a_salesforce_sync_carry_the_run_id_too(
    pg_only_url: str, fake: FakeSalesforce, capsys: pytest.CaptureFixture[str]
) -> None:
    add_people(fake, 60, stamp=an_hour_ago())
    configure_logging("DEBUG", json=True)
    capsys.readouterr()
    # A login, an expired session (re-login), Bulk API 2.0 (a job) and the API budget: lines the
    # connector writes, not the pipeline.
    fake.fail_next("/jobs/query", "expired_session")
    summary = run_sync(pg_only_url, fake, salesforce_bulk_threshold=10, full=True)
    assert summary.status == "succeeded"
    lines = json_lines(capsys.readouterr().err)
    events = {line["event"] for line in lines}
    assert {"salesforce.login", "salesforce.relogin", "salesforce.bulk_job", "run.finished"} <= events, events
    assert [line for line in lines if line.get("run_id") != summary.run_id] == []
    # The binding ends with the run: a line after it carries no stale run id.
    from structlog import get_logger

    get_logger("test").info("after.run")
    (after,) = json_lines(capsys.readouterr().err)
    assert "run_id" not in after
