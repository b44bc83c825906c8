"""Run ids the CLI prints can be copied or captured whole: `runs list` and `--enqueue`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import sync.cli.imports
import sync.cli.runs
from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from sync.cli import app


@pytest.fixture
def store(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CSV to import into a fresh embedded store, with no broker configured."""
    for key in ("CELERY_BROKER_URL", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(5, seed=4))


def _one_run(path: Path) -> str:
    done = CliRunner().invoke(app, ["import", "csv", str(path), "--json"])
    assert done.exit_code == 0, done.output
    return str(json.loads(done.stdout)["run_id"])


def test_runs_list_in_a_pipe_prints_whole_ids_that_runs_show_accepts(store: Path) -> None:
    run_id = _one_run(store)
    listed = CliRunner().invoke(app, ["runs", "list"])
    assert listed.exit_code == 0, listed.output
    fields = listed.stdout.splitlines()[0].split("\t")
    assert fields[0] == run_id
    assert fields[1] == "shopify"
    shown = CliRunner().invoke(app, ["runs", "show", fields[0], "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["id"] == run_id


def test_runs_list_at_80_columns_is_one_row_per_run_led_by_an_id_runs_show_takes(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ids = {_one_run(store), _one_run(store)}
    screen = io.StringIO()
    monkeypatch.setattr(
        sync.cli.runs, "out", Console(file=screen, force_terminal=True, color_system=None, width=80)
    )
    listed = CliRunner().invoke(app, ["runs", "list"])
    assert listed.exit_code == 0, listed.output

    lines = screen.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), screen.getvalue()
    header, rule, *rows = lines
    assert set(rule) == {"─"}
    assert header.split() == ["run", "source", "status", "read", "created", "updated", "rejected", "started"]
    # One line per run, nothing wrapped onto a second: every row starts with its id's prefix.
    every_run = [run["id"] for run in json.loads(CliRunner().invoke(app, ["runs", "list", "--json"]).stdout)]
    assert run_ids <= set(every_run)
    assert len(rows) == len(every_run), screen.getvalue()
    assert all(row.split()[1] == "shopify/file" and row.endswith(" ago") for row in rows), screen.getvalue()
    for row, run_id in zip(rows, every_run, strict=True):
        prefix = row.split()[0]
        assert run_id.startswith(prefix) and len(prefix) < len(run_id)
        shown = CliRunner().invoke(app, ["runs", "show", prefix, "--json"])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["id"] == run_id


def test_runs_list_on_a_wide_terminal_shows_every_column_and_the_whole_id(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _one_run(store)
    screen = io.StringIO()
    monkeypatch.setattr(
        sync.cli.runs, "out", Console(file=screen, force_terminal=True, color_system=None, width=200)
    )
    listed = CliRunner().invoke(app, ["runs", "list"])
    assert listed.exit_code == 0, listed.output
    assert run_id in screen.getvalue()
    assert "trigger" in screen.getvalue() and "task" in screen.getvalue()


@pytest.mark.parametrize(
    ("count", "brief"),
    [(0, "0"), (9_999, "9999"), (12_345, "12k"), (999_499, "999k"), (999_500, "1.0M"), (3_000_000, "3.0M")],
)
def test_runs_list_counts_fit_five_characters(count: int, brief: str) -> None:
    assert sync.cli.runs._brief_count(count) == brief


@pytest.mark.parametrize(
    ("module", "command"),
    [
        (sync.cli.imports, ["import", "csv", "{path}", "--enqueue"]),
        (sync.cli.runs, ["runs", "retry", "{run_id}"]),
    ],
)
def test_enqueue_prints_exactly_the_run_id(
    store: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, module: object, command: list[str]
) -> None:
    run_id = _one_run(store) if "retry" in command else ""
    if run_id:
        with get_engine(sqlite_url).begin() as conn:
            conn.exec_driver_sql("UPDATE sync_run SET status = 'failed'")
    # Only the printing is under test: a broker is "configured" but nothing is sent to it.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://localhost:1/0")
    monkeypatch.setattr(module, "enqueue", lambda *_: "task-1")
    args = [a.format(path=store, run_id=run_id) for a in command]
    queued = CliRunner().invoke(app, args)
    assert queued.exit_code == 0, queued.output
    printed = queued.stdout.strip()
    assert "\n" not in printed and " " not in printed and printed
    if run_id:
        assert printed == run_id
    assert "queued run" in queued.stderr
    as_json = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert (as_json["task_id"], as_json["status"]) == ("task-1", "queued")
