"""A worker killed mid-import loses nothing: resuming its run ends as a clean import does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from sync.cli import app
from tests.conftest import truncate_all
from tests.sync.helpers import golden_view, table_rows

EXE = Path(sys.executable).with_name("customer-sync")
ROWS = 6000
BATCH = 300
LEASE = 2


def _committed(url: str) -> tuple[str | None, int]:
    with get_engine(url).connect() as conn:
        row = conn.execute(
            sa.text("SELECT id, checkpoint FROM sync_run ORDER BY started_at DESC LIMIT 1")
        ).first()
    if row is None or not row.checkpoint:
        return (row.id if row else None), 0
    checkpoint = row.checkpoint if isinstance(row.checkpoint, dict) else json.loads(row.checkpoint) or {}
    return row.id, int(checkpoint.get("records", 0))


def _children(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (from /proc: a zombie is not live)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            state, ppid = stat.read_text().rpartition(")")[2].split()[:2]
        except OSError:
            continue  # it ended meanwhile
        if int(ppid) == pid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("store", ["pg_url", "sqlite_url"])
def test_kill_mid_import_then_resume_equals_a_clean_import(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url: str = request.getfixturevalue(store)
    path = write_csv(tmp_path / "big.csv", SHOPIFY_HEADER, shopify_rows(ROWS, garbage=0.01, seed=21))
    env = {**os.environ, "DATABASE_URL": url, "BATCH_SIZE": str(BATCH), "RUN_LEASE_SECONDS": str(LEASE)}
    # Two mapping processes, whatever the machine: they must die with the importer.
    env["MAPPING_WORKERS"] = "2"

    # The clean reference: one uninterrupted import.
    truncate_all(get_engine(url))
    subprocess.run([str(EXE), "import", "csv", str(path), "--json"], env=env, check=True, capture_output=True)
    reference = golden_view(url)
    reference_sources = {
        (r["source"], r["source_id"], r["content_hash"]) for r in table_rows(url, "customer_source")
    }

    truncate_all(get_engine(url))
    worker = subprocess.Popen(
        [str(EXE), "import", "csv", str(path), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        run_id, done = None, 0
        while time.monotonic() < deadline and done < 3 * BATCH:
            time.sleep(0.05)
            run_id, done = _committed(url)
        mappers = _children(worker.pid)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    # A mapping process outliving its importer would hold the dead run's database session
    # (its transaction and lease lock) open, and the resume below would wait for ever.
    assert len(mappers) == 2
    deadline = time.monotonic() + 10
    while any(map(_alive, mappers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, mappers)), "mapping processes outlived the killed importer"
    run_id, done = _committed(url)
    assert run_id is not None
    assert BATCH <= done < ROWS, "the kill should land mid-run"
    assert done % BATCH == 0  # only whole batches were committed
    with get_engine(url).connect() as conn:
        assert (
            conn.execute(sa.text("SELECT status FROM sync_run WHERE id = :i"), {"i": run_id}).scalar()
            == "running"
        )

    # While the dead process's lease lasts the run looks alive, and is left alone.
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BATCH_SIZE", str(BATCH))
    refused = CliRunner().invoke(app, ["runs", "resume", run_id, "--force"])
    assert refused.exit_code == 2
    assert "still running" in refused.stderr
    # ... and the line says when the dead process's lease runs out, to resume after that.
    assert "its lease has not expired: it expires in " in refused.stderr

    # Once it has run out, the run resumes (no --force needed).
    time.sleep(LEASE + 0.5)
    resumed = CliRunner().invoke(app, ["runs", "resume", run_id, "--json"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "succeeded"
    # Every record counted once across the crash: nothing lost, nothing doubled.
    assert summary["read"] == ROWS
    assert summary["created"] + summary["rejected"] == ROWS
    assert summary["unchanged"] == 0
    assert golden_view(url) == {k: {**v} for k, v in reference.items()}
    assert {
        (r["source"], r["source_id"], r["content_hash"]) for r in table_rows(url, "customer_source")
    } == reference_sources


def test_resume_refuses_a_changed_file_and_a_finished_run(
    pg_only_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "f.csv", SHOPIFY_HEADER, shopify_rows(20, seed=2))
    monkeypatch.setenv("DATABASE_URL", pg_only_url)
    done = json.loads(CliRunner().invoke(app, ["import", "csv", str(path), "--json"]).stdout)
    finished = CliRunner().invoke(app, ["runs", "resume", done["run_id"]])
    assert finished.exit_code == 2
    assert "already succeeded" in finished.stderr

    with get_engine(pg_only_url).begin() as conn:
        conn.execute(sa.text("UPDATE sync_run SET status = 'failed' WHERE id = :i"), {"i": done["run_id"]})
    path.write_text(path.read_text() + "9999,Late,Row,late@example.com,no,,,,,,,,,,no,0,0,,no,\n")
    changed = CliRunner().invoke(app, ["runs", "resume", done["run_id"]])
    assert changed.exit_code == 2
    assert "changed since run" in changed.stderr


class _Stop(Exception):
    """Stands for the process dying once a batch has committed."""


def test_resume_refuses_a_run_a_later_import_of_its_stream_overtook(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review F13: file A stopped after its first batch, then file B imported whole; resuming
    A put the rest of A over B's rows, a store that is neither file's."""
    from sync.jobs import import_csv
    from sync.pipeline import new_run_id
    from tests.sync.helpers import run_csv, settings_for

    first = write_csv(tmp_path / "a.csv", SHOPIFY_HEADER, shopify_rows(30, seed=2))
    second = write_csv(tmp_path / "b.csv", SHOPIFY_HEADER, shopify_rows(30, seed=3))

    def stop(_stream: object, _counts: object) -> None:
        raise _Stop()

    run_id = new_run_id()
    with pytest.raises(_Stop):
        import_csv(settings_for(db_url, batch_size=10), first, run_id=run_id, on_batch=stop)
    assert run_csv(db_url, second).status == "succeeded"
    after_b = golden_view(db_url)

    monkeypatch.setenv("DATABASE_URL", db_url)
    resumed = CliRunner().invoke(app, ["runs", "resume", run_id])
    assert resumed.exit_code == 2, resumed.output
    assert "import the file afresh" in resumed.stderr and len(resumed.stderr.strip().splitlines()) == 1
    assert golden_view(db_url) == after_b


def test_a_later_run_that_wrote_nothing_does_not_block_a_resume(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: a later import whose rows were all rejected, or all unchanged, changed nothing a
    resume could put rows over; it no longer blocks one."""
    from sync.jobs import import_csv
    from sync.pipeline import new_run_id
    from tests.sync.helpers import run_csv, settings_for

    rows = list(shopify_rows(30, seed=2))
    first = write_csv(tmp_path / "a.csv", SHOPIFY_HEADER, iter(rows))

    def stop(_stream: object, _counts: object) -> None:
        raise _Stop()

    run_id = new_run_id()
    with pytest.raises(_Stop):
        import_csv(settings_for(db_url, batch_size=10), first, run_id=run_id, on_batch=stop)
    # The first ten rows again (all unchanged), then a file whose one row is rejected.
    again = run_csv(db_url, write_csv(tmp_path / "b.csv", SHOPIFY_HEADER, iter(rows[:10])))
    assert (again.counts["unchanged"], again.counts["created"] + again.counts["updated"]) == (10, 0)
    rejected = tmp_path / "c.csv"
    rejected.write_text(",".join(SHOPIFY_HEADER) + "\n1,2\n", encoding="utf-8")
    assert run_csv(db_url, rejected).counts["rejected"] == 1

    monkeypatch.setenv("DATABASE_URL", db_url)
    resumed = CliRunner().invoke(app, ["runs", "resume", run_id, "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "succeeded"
