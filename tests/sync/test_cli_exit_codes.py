"""A source error means the same exit from every command: 1 when it failed a run, 2 when nothing ran."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import sync.cli.imports
import sync.jobs
from connectors import FatalSourceError
from sync.cli import app
from sync.pipeline import RunSummary
from sync.pipeline.runs import note_stopped_run
from tests.fakes import salesforce
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.helpers import table_rows

fake = salesforce.fake_salesforce

RUN_ID = "a" * 32
# Each command, and the job function it calls to run in this process.
COMMANDS = [
    (["import", "csv", "people.csv"], sync.cli.imports, "import_csv"),
    (["runs", "resume", RUN_ID], sync.jobs, "resume_run"),
    (["sync", "salesforce"], sync.jobs, "sync_salesforce"),
]
NAMES = ["import csv", "runs resume", "sync salesforce"]


def _said(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line and not line.startswith("{")]


def _raising(error: FatalSourceError) -> Any:
    def job(*args: Any, **kwargs: Any) -> RunSummary:
        raise error

    return job


@pytest.mark.parametrize(("args", "module", "job"), COMMANDS, ids=NAMES)
def test_a_source_error_that_failed_a_run_exits_1_naming_it_from_every_command(
    args: list[str], module: Any, job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "people.csv").write_text("email\nann@example.com\n")
    error = FatalSourceError("the source broke off")
    error.run_id = RUN_ID
    note_stopped_run(error, RunSummary(RUN_ID, "failed", {"read": 7}, "the source broke off"))
    monkeypatch.setattr(module, job, _raising(error))

    done = CliRunner().invoke(app, [*args, "--json"])

    assert done.exit_code == 1, done.output
    assert _said(done.stderr) == [f"error: run {RUN_ID} failed: the source broke off"]
    # As for a run an unexpected error failed: the failed run's summary, with its error.
    summary = json.loads(done.stdout)
    assert (summary["run_id"], summary["status"], summary["read"]) == (RUN_ID, "failed", 7)
    assert summary["error"] == "the source broke off"


@pytest.mark.parametrize(("args", "module", "job"), COMMANDS, ids=NAMES)
def test_a_source_error_before_any_run_exits_2_from_every_command(
    args: list[str], module: Any, job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "people.csv").write_text("email\nann@example.com\n")
    monkeypatch.setattr(module, job, _raising(FatalSourceError("no such thing")))

    done = CliRunner().invoke(app, [*args, "--json"])

    assert done.exit_code == 2, done.output
    assert _said(done.stderr) == ["error: no such thing"]
    assert done.stdout == ""


def test_runs_resume_of_a_salesforce_run_the_org_refuses_again_exits_1_naming_it(
    pg_only_url: str, fake: FakeSalesforce
) -> None:
    fake.org.add_contact(FirstName="Ann", LastName="Lee", Email="ann@example.com")
    fake.fail_next(
        "/query", kind="server_error", status=400, times=None, message="INVALID_FIELD: no such column"
    )
    env = {
        "DATABASE_URL": pg_only_url,
        "SALESFORCE_INSTANCE_URL": fake.url,
        "SALESFORCE_ACCESS_TOKEN": fake.issue_token(),
        "SALESFORCE_CA_BUNDLE": str(fake.ca_path),
    }
    synced = CliRunner().invoke(app, ["sync", "salesforce"], env=env)
    assert synced.exit_code == 1, synced.output
    (run,) = table_rows(pg_only_url, "sync_run", order_by="started_at")
    assert run["status"] == "failed"

    resumed = CliRunner().invoke(app, ["runs", "resume", run["id"]], env=env)

    # The run failed again: what `sync salesforce` says of it, and exits with, not a refusal.
    assert resumed.exit_code == 1, resumed.output
    (line,) = _said(resumed.stderr)
    assert line.startswith(f"error: run {run['id']} failed: ") and "INVALID_FIELD" in line
    assert _said(synced.stderr) == [line]
    (again,) = table_rows(pg_only_url, "sync_run", order_by="started_at")
    assert again["status"] == "failed"


# Ctrl-C while the CLI's modules load: stands in for the key pressed in the first second.
_CTRL_C_WHILE_LOADING = """
import sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "sync.cli":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, CtrlC())
from sync.console import main
main()
"""


def test_ctrl_c_while_the_cli_loads_is_one_line_and_exit_130() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_WHILE_LOADING], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "interrupted\n", "")


def test_the_console_script_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from sync.console import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "import" in done.stdout and "runs" in done.stdout


def test_ctrl_c_on_an_import_of_standard_input_says_to_import_it_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the line said `runs resume` carries it on, which then refused standard input."""
    real = sync.cli.imports.import_csv

    def interrupted_after_a_batch(*args: Any, **kwargs: Any) -> Any:
        def ctrl_c(*_: Any) -> None:
            raise KeyboardInterrupt

        return real(*args, **{**kwargs, "on_batch": ctrl_c})

    monkeypatch.setattr(sync.cli.imports, "import_csv", interrupted_after_a_batch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    rows = "email,first_name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(5))
    result = CliRunner().invoke(app, ["import", "csv", "-"], input=rows, env={"BATCH_SIZE": "2"})
    assert result.exit_code == 130, result.output
    (line,) = _said(result.stderr)
    assert "standard input, which cannot be read again: import the whole input afresh" in line
    assert "runs resume" not in line
