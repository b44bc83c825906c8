"""A run that a database error stops records the error's kind, never its statement or its values;
the CLI says so in one line naming the run, and the traceback is in the log only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from sync.jobs import load_salesforce_page
from sync.tasks._base import one_line
from tests.fakes import salesforce
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.helpers import run_csv, table_rows, write_file
from tests.sync.test_cli_fanned_out import fanned_out_csv, paged_run
from tests.sync.test_salesforce_sync import add_people, an_hour_ago

NAME, EMAIL = "Evangeline", "evangeline@example.com"
fake = salesforce.fake_salesforce
EXE = Path(sys.executable).with_name("customer-sync")
# What a database error's text quotes, and a traceback: none of it for the person at the terminal.
LEAKS = (
    "Traceback",
    "SELECT",
    "INSERT",
    "COPY",
    "[SQL:",
    "[parameters:",
    "Failing row",
    "DETAIL",
    NAME,
    EMAIL,
)


@pytest.fixture
def store_refusing_the_name(db_url: str) -> Iterator[str]:
    """The store, with the customer table refusing NAME: a real error from the database mid-run."""
    engine = get_engine(db_url)
    if engine.dialect.name == "postgresql":
        add = f"ALTER TABLE customer ADD CONSTRAINT refuse_name CHECK (firstname <> '{NAME}')"
        remove = "ALTER TABLE customer DROP CONSTRAINT refuse_name"
    else:
        add = (
            f"CREATE TRIGGER refuse_name BEFORE INSERT ON customer WHEN NEW.firstname = '{NAME}' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        remove = "DROP TRIGGER refuse_name"
    with engine.begin() as conn:
        conn.exec_driver_sql(add)
    try:
        yield db_url
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(remove)


def test_a_database_error_is_recorded_by_its_kind_without_sql_or_values(
    store_refusing_the_name: str, tmp_path: Path
) -> None:
    url = store_refusing_the_name
    path = write_file(
        tmp_path,
        "entitySourceId,email,firstname,lastname,updatedAt\n"
        f"c-1,{EMAIL},{NAME},Lee,2025-01-01T10:00:00+00:00\n",
    )
    with pytest.raises(sa.exc.IntegrityError) as raised:
        run_csv(url, path, preset_name="native")
    (run,) = table_rows(url, "sync_run", order_by="started_at")
    assert run["status"] == "failed"
    # The worker's record of a task that gave up says the same.
    for error in (run["error"], one_line(raised.value)):
        assert error.startswith("IntegrityError (")
        for leak in ("SELECT", "INSERT", "COPY", "[SQL:", "[parameters:", "Failing row", NAME, EMAIL):
            assert leak not in error, error
    assert raised.value.orig is not None
    assert type(raised.value.orig).__name__ in run["error"]


def _refused_file(tmp_path: Path) -> Path:
    """A file whose second customer the store refuses."""
    return write_file(
        tmp_path,
        "entitySourceId,email,firstname,lastname,updatedAt\n"
        "c-0,ann@example.com,Ann,Lee,2025-01-01T10:00:00+00:00\n"
        f"c-1,{EMAIL},{NAME},Lee,2025-01-01T10:00:00+00:00\n",
    )


def _cli_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of an operator's shell: this store, JSON logs (the default), no broker."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY", "REDIS", "LOG_"))
    }
    return env | {"DATABASE_URL": url, "LOG_JSON": "true"} | extra


def _cli(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`customer-sync ARGS` as an operator runs it: its own process, so Python's and typer's own
    handling of an uncaught error is what the terminal would show."""
    return subprocess.run(
        [str(EXE), *args],
        cwd=cwd,
        env=_cli_env(url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _split(stderr: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Standard error as the lines said to a person and the JSON log lines beside them."""
    said: list[str] = []
    logged: list[dict[str, Any]] = []
    for line in stderr.splitlines():
        try:
            logged.append(json.loads(line))
        except ValueError:
            said.append(line)
    return said, logged


def _assert_one_line_and_one_logged_traceback(stderr: str, run_id: str) -> None:
    said, logged = _split(stderr)
    assert len(said) == 1, stderr
    assert f"run {run_id} failed on an unexpected error: IntegrityError (" in said[0]
    for leak in LEAKS:
        assert leak not in said[0], said[0]
    # The traceback is in the log, once, under the run id (not again from typer or Python).
    (traced,) = [line for line in logged if "exception" in line]
    assert traced["event"] == "run.failed" and traced["run_id"] == run_id
    assert traced["exception"].startswith("Traceback")
    # Nor does the log quote the refused row (PostgreSQL's DETAIL and CONTEXT lines).
    for line in logged:
        for value in (NAME, EMAIL, "Failing row"):
            assert value not in json.dumps(line), line


def test_import_stopped_by_a_database_error_is_one_line_naming_the_failed_run(
    store_refusing_the_name: str, tmp_path: Path
) -> None:
    url = store_refusing_the_name
    done = _cli(url, "import", "csv", str(_refused_file(tmp_path)), "--preset", "native", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    (run,) = table_rows(url, "sync_run", order_by="started_at")
    assert run["status"] == "failed"
    _assert_one_line_and_one_logged_traceback(done.stderr, run["id"])
    assert done.stdout == ""


def test_runs_resume_stopped_again_prints_the_failed_run_as_json(
    store_refusing_the_name: str, tmp_path: Path
) -> None:
    url = store_refusing_the_name
    with pytest.raises(sa.exc.IntegrityError):
        run_csv(url, _refused_file(tmp_path), preset_name="native")
    (run,) = table_rows(url, "sync_run", order_by="started_at")

    done = _cli(url, "runs", "resume", run["id"][:8], "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    _assert_one_line_and_one_logged_traceback(done.stderr, run["id"])
    (again,) = table_rows(url, "sync_run", order_by="started_at")
    assert again["status"] == "failed"
    # The summary other ends print, with the error the run record keeps.
    summary = json.loads(done.stdout)
    assert (summary["run_id"], summary["status"], summary["read"]) == (run["id"], "failed", 0)
    assert summary["error"] == again["error"] and summary["error"].startswith("IntegrityError (")
    for leak in LEAKS:
        assert leak not in done.stdout


def _refused_in_a_later_chunk(tmp_path: Path) -> Path:
    """A file of 300 customers whose 250th the store refuses: in the third chunk or later."""
    rows = [f"c-{i},p{i}@example.com,P{i},Lee,2025-01-01T10:00:00+00:00" for i in range(300)]
    rows[249] = f"c-249,{EMAIL},{NAME},Lee,2025-01-01T10:00:00+00:00"
    return write_file(
        tmp_path, "entitySourceId,email,firstname,lastname,updatedAt\n" + "\n".join(rows) + "\n"
    )


def test_runs_resume_of_a_chunked_run_records_an_unexpected_error_on_the_run(
    store_refusing_the_name: str, tmp_path: Path
) -> None:
    url = store_refusing_the_name
    run_id = fanned_out_csv(url, _refused_in_a_later_chunk(tmp_path), preset_name="native")

    done = _cli(url, "runs", "resume", run_id, cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    _assert_one_line_and_one_logged_traceback(done.stderr, run_id)
    (run,) = table_rows(url, "sync_run", order_by="started_at")
    # Failed, with the error's kind and the chunk it stopped, and its stream free: `runs resume`
    # carries it on at once once the cause is fixed, not a lease's length later.
    assert run["status"] == "failed", run
    assert re.fullmatch(r"chunk \d+: IntegrityError \(.*\); the statement is in the log", run["error"])
    for leak in LEAKS:
        assert leak not in run["error"]
    assert table_rows(url, "run_lease", order_by="run_id") == []
    (failed,) = [c for c in table_rows(url, "sync_chunk", order_by='"index"') if c["status"] == "failed"]
    assert run["error"].startswith(f"chunk {failed['index']}: ")


def test_sync_salesforce_carrying_a_paged_run_records_an_unexpected_error_on_the_run(
    store_refusing_the_name: str, fake: FakeSalesforce, tmp_path: Path
) -> None:
    url = store_refusing_the_name
    add_people(fake, 1000, stamp=an_hour_ago())
    # The last contact read (on the last page) is one the store refuses.
    fake.org.add_contact(FirstName=NAME, LastName="Lee", Email=EMAIL)
    paged = paged_run(url, fake)
    # Page 1's worker found the org's daily quota spent: the run paused for the next sync.
    fake.fail_next("/results", "request_limit")
    assert load_salesforce_page(paged.settings, paged.run_id, paged.sent[0], paged.sent.append) is False
    assert table_rows(url, "sync_run", order_by="started_at")[0]["status"] == "paused"

    done = subprocess.run(
        [str(EXE), "sync", "salesforce"],
        cwd=tmp_path,
        env=_cli_env(url, **{k: v for k, v in paged.env.items() if k != "DATABASE_URL"}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    _assert_one_line_and_one_logged_traceback(done.stderr, paged.run_id)
    (run,) = table_rows(url, "sync_run", order_by="started_at")
    assert run["status"] == "failed", run
    assert re.fullmatch(r"page 5: IntegrityError \(.*\); the statement is in the log", run["error"])
    assert table_rows(url, "run_lease", order_by="run_id") == []
    pages = table_rows(url, "sync_page", order_by='"index"')
    assert [p["status"] for p in pages] == ["done"] * 5 + ["failed"]


BATCH = 50


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_ctrl_c_during_an_import_pauses_the_run_and_runs_resume_carries_it_on_at_once(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'customer_sync.db'}"
        if store == "sqlite"
        else request.getfixturevalue("pg_only_url")
    )
    rows = 5000
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(rows, seed=4))
    # Small batches: a hundred commits, so the signal lands with most of the file still to load.
    importer = subprocess.Popen(
        [str(EXE), "import", "csv", str(path)],
        cwd=tmp_path,
        env=_cli_env(url, BATCH_SIZE=str(BATCH)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a shell starts it: a runner started in the background may have Ctrl-C ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert importer.stderr is not None
    seen = []
    for line in importer.stderr:
        seen.append(line)
        if '"run.batch"' in line:
            break
    importer.send_signal(signal.SIGINT)
    stdout, rest = importer.communicate(timeout=120)
    stderr = "".join(seen) + rest

    assert importer.returncode == 130, stderr
    (run,) = table_rows(url, "sync_run", order_by="started_at")
    said, _ = _split(stderr)
    assert said == [
        f"interrupted: run {run['id']} paused after its last committed batch; "
        f"`customer-sync runs resume {run['id']}` carries it on"
    ], stderr
    assert "Traceback" not in stderr and stdout == ""
    # What it committed stays, whole batches only; the batch being read is not counted.
    assert (run["status"], run["error"]) == ("paused", "interrupted (Ctrl-C)")
    assert 0 < run["read"] < rows and run["read"] % BATCH == 0, run["read"]
    checkpoint = run["checkpoint"] if isinstance(run["checkpoint"], dict) else json.loads(run["checkpoint"])
    assert checkpoint["records"] == run["read"]
    # Its stream is free: no lease to wait out.
    assert table_rows(url, "run_lease", order_by="run_id") == []

    resumed = _cli(url, "runs", "resume", run["id"], "--json", cwd=tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert (summary["run_id"], summary["status"]) == (run["id"], "succeeded")
    # Every row counted once across the interrupt: nothing lost, nothing read twice.
    assert summary["read"] == rows
    outcomes = ("created", "updated", "unchanged", "deleted", "rejected", "duplicates")
    assert sum(summary[k] for k in outcomes) == rows, summary
    assert summary["unchanged"] == 0
    assert len(table_rows(url, "customer")) == summary["created"]
