"""The `customer-sync` command as a user runs it: exit codes, JSON output, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import ensure_schema
from sync.cli import app
from sync.pipeline import Lease
from sync.pipeline.lease import acquire
from tests.conftest import PG_ADMIN_URL
from tests.sync.helpers import table_rows

EXE = Path(sys.executable).with_name("customer-sync")


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY", "REDIS"))}
    full_env.update(env or {})
    return subprocess.run(
        [str(EXE), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(300, garbage=0.05, seed=4))
    return tmp_path


def test_import_json_on_the_default_embedded_store(workdir: Path) -> None:
    result = cli("import", "csv", "shop.csv", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) == {
        "run_id", "status", "read", "created", "updated", "unchanged", "deleted", "rejected", "duplicates", "warnings",
        "conflicts", "layout", "columns", "encoding",
    }  # fmt: skip
    assert summary["layout"] == "shopify" and summary["columns"]["Email"] == "email"
    assert summary["encoding"] == "utf-8"  # shown, so a wrong guess is seen before the names are
    assert summary["status"] == "succeeded"
    assert summary["read"] == 300 == summary["created"] + summary["rejected"]
    assert summary["rejected"] > 0
    assert (workdir / "customer_sync.db").exists()  # the default store: an SQLite file right here

    shown = cli("runs", "show", summary["run_id"], "--json", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert len(run["rejects"]) == summary["rejected"]
    assert {"line", "reason", "message", "raw"} <= set(run["rejects"][0])

    listed = json.loads(cli("runs", "list", "--json", cwd=workdir).stdout)
    assert [r["id"] for r in listed] == [summary["run_id"]]

    got = cli("customers", "get", "--email", "PERSON1@example.com", "--json", cwd=workdir)
    assert got.returncode == 0, got.stderr
    customer = json.loads(got.stdout)
    assert customer["email"] == "person1@example.com"
    assert customer["entitySource"] == "SHOPIFY" and customer["entitySourceId"] == "1000001"
    assert {"id", "pk", "loyaltyId", "phoneNumber", "zipCode", "extraInfo", "pointsEarned"} <= set(customer)


def test_import_json_counts_email_conflicts_as_the_table_does(tmp_path: Path) -> None:
    header = "entitySourceId,email,firstname,lastname,updatedAt\n"
    (tmp_path / "first.csv").write_text(
        header + "c-ann,ann@example.com,Ann,Lee,2025-01-01\nc-bob,bob@example.com,Bob,Ng,2025-01-01\n"
    )
    # Bob's record now claims Ann's address: a conflict (and a warning), never a merge.
    (tmp_path / "later.csv").write_text(header + "c-bob,ann@example.com,Bob,Ng,2025-02-01\n")
    assert cli("import", "csv", "first.csv", "--preset", "native", cwd=tmp_path).returncode == 0
    result = cli("import", "csv", "later.csv", "--preset", "native", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["conflicts"], summary["warnings"]) == (1, 1)
    table = cli("import", "csv", "later.csv", "--preset", "native", cwd=tmp_path)
    assert "conflicts" in table.stdout
    listed = json.loads(cli("runs", "list", "--json", cwd=tmp_path).stdout)
    assert [run["conflicts"] for run in listed] == [0, 1, 0]


def test_json_log_lines_printed_above_the_progress_bar_stay_one_line_each(workdir: Path) -> None:
    # A terminal 80 columns wide (rich takes TTY_COMPATIBLE for one): the bar shows, and rich
    # prints whatever reaches stderr meanwhile above it; JSON logs are the default.
    terminal = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "80", "LOG_JSON": "true"}
    result = cli("import", "csv", "shop.csv", cwd=workdir, env=terminal)
    assert result.returncode == 0, result.stderr

    # What the terminal shows: the bar's cursor moves and colours taken out, one line per row.
    screen = re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr))
    assert any(line.startswith("importing shop.csv") for line in screen), result.stderr
    logged = [line for line in screen if line.startswith("{")]
    events = [json.loads(line)["event"] for line in logged]
    assert events[0] == "run.start" and events[-1] == "run.finished", events


def test_import_on_postgres_by_database_url(workdir: Path, pg_only_url: str) -> None:
    result = cli(
        "import",
        "csv",
        "shop.csv",
        "--preset",
        "shopify",
        "--json",
        cwd=workdir,
        env={"DATABASE_URL": pg_only_url},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["created"] > 250
    assert not (workdir / "customer_sync.db").exists()


# README, "What happens to bad input": each of these is fatal, one line on stderr, exit 2,
# nothing written.
FATAL_IMPORTS = [
    (["import", "csv", "missing.csv"], "no such file: missing.csv"),
    (["import", "csv", "shop.csv", "--preset", "excel97"], "unknown preset 'excel97'"),
    (["import", "csv", "shop.csv", "--mapping", "nope.toml"], "no such mapping file"),
    (["import", "csv", "shop.csv", "--mapping", "bad.toml"], "is not valid TOML"),
    (["import", "csv", "empty.csv"], "is empty"),
    # The API's own source: a file under it would rewrite what people typed into their accounts.
    (
        ["import", "csv", "shop.csv", "--source-name", "internal"],
        "the source name 'internal' is the API's own",
    ),
    (["import", "csv", "shop.csv", "--source-name", "internal-eu"], "is the API's own"),
    # PostgreSQL refused a name past 64 characters mid-run (DataError, exit 1).
    (["import", "csv", "shop.csv", "--source-name", "s" * 65], "is not usable"),
    (["import", "csv", "shop.csv", "--source-name", "shop\nfoo"], "is not usable"),
    (["import", "csv", "shop.csv", "--source-name", " "], "is not usable"),
    (
        ["import", "csv", "shop.csv", "--mapping", "internal.toml"],
        "the source name 'internal' is the API's own",
    ),
    (["import", "csv", "binary.csv"], "not a text CSV file"),
]


@pytest.fixture
def bad_inputs(workdir: Path) -> Path:
    (workdir / "empty.csv").write_bytes(b"")
    (workdir / "binary.csv").write_bytes(b"\x00\x01PK\x03\x04\xff\xfe\x00" * 50)
    (workdir / "bad.toml").write_text('kind = "customers"\n[fields\n', encoding="utf-8")
    (workdir / "internal.toml").write_text(
        'kind = "customers"\nsource = "internal"\nid = "Id"\n[fields]\nemail = "Email"\n', encoding="utf-8"
    )
    return workdir


@pytest.mark.parametrize(
    ("args", "message"),
    [
        *FATAL_IMPORTS,
        (["runs", "show", "doesnotexist"], "no run 'doesnotexist'"),
        (["customers", "get"], "exactly one of"),
    ],
)
def test_fatal_problems_are_one_line_on_stderr_exit_2_and_write_nothing(
    bad_inputs: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(bad_inputs)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
    if args[0] == "import":
        # A new user's default store is not even created by an import that cannot start.
        assert not (bad_inputs / "customer_sync.db").exists()


@pytest.mark.parametrize("pk", ["99999999999999999999", "0"])
def test_a_key_no_store_can_hold_is_a_usage_error(
    bad_inputs: Path, pk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite raised OverflowError (a traceback, exit 1) on a key past 64 bits."""
    monkeypatch.chdir(bad_inputs)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["customers", "get", "--pk", pk])
    assert result.exit_code == 2, result.output
    assert "--pk" in result.stderr and "Traceback" not in result.output


def test_fatal_imports_leave_an_existing_store_untouched(
    bad_inputs: Path, pg_only_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(bad_inputs)
    monkeypatch.setenv("DATABASE_URL", pg_only_url)
    tables = ("sync_run", "sync_reject", "customer", "customer_source", "connector_state")
    for args, _ in FATAL_IMPORTS:
        result = CliRunner().invoke(app, [*args, "--json"])
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
    assert {t: len(table_rows(pg_only_url, t, order_by="1")) for t in tables} == dict.fromkeys(tables, 0)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["import"],
        ["import", "csv"],
        ["runs", "list"],
        ["runs", "show"],
        ["runs", "resume"],
        ["runs", "retry"],
        ["customers", "get"],
        ["db", "upgrade"],
        ["serve"],
        ["users", "create-admin"],
        ["sync", "salesforce"],
        ["sync", "spotify"],
        ["spotify", "link-url"],
        ["spotify", "new-key"],
        ["spotify", "rotate-keys"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_db_upgrade_on_postgres(tmp_path: Path, pg_only_url: str) -> None:
    from models.db import head_revision

    head = head_revision(pg_only_url)
    result = cli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": pg_only_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"already up to date at {head}"


def test_db_upgrade_of_an_empty_database_says_what_it_migrated(tmp_path: Path) -> None:
    from models.db import head_revision

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    head = head_revision(url)
    first = cli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url})
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"migrated from empty to {head}"
    again = cli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url})
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"already up to date at {head}"


@pytest.fixture
def unmigrated_pg_url() -> Iterator[str]:
    """A PostgreSQL database created and never migrated, as an operator's new one is."""
    name = f"cs_unmigrated_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_never_migrated_postgres_store_says_so_and_names_the_upgrade(
    tmp_path: Path, unmigrated_pg_url: str
) -> None:
    env = {"DATABASE_URL": unmigrated_pg_url}
    result = cli("runs", "list", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: store unavailable: the database has no customer-sync schema yet; "
        "run `customer-sync db upgrade`"
    ]
    # The command it names is the one that makes the store usable.
    assert cli("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    assert cli("runs", "list", cwd=tmp_path, env=env).returncode == 0


def test_an_import_skipped_for_a_held_stream_is_one_unbroken_line_and_exit_3(tmp_path: Path) -> None:
    holder = "f" * 32
    engine = ensure_schema(f"sqlite:///{tmp_path / 'customer_sync.db'}")
    # Another import of csv/file is under way for the next ten minutes.
    assert acquire(engine, Lease("csv", "file", holder, "other-process", 600)) is None
    engine.dispose()
    (tmp_path / "f.csv").write_text("email,first_name\nann@example.com,Ann\n")

    # stderr is a pipe, not a terminal: rich would wrap at 80 columns (COLUMNS pins that here).
    result = cli("import", "csv", "f.csv", cwd=tmp_path, env={"COLUMNS": "80"})

    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line and not line.startswith("{")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"skipped: run {holder} held csv/file; run ")
    assert lines[0].endswith(" did nothing") and len(lines[0]) > 80


def test_a_paused_salesforce_sync_is_one_unbroken_line(pg_only_url: str, tmp_path: Path) -> None:
    from tests.fakes.salesforce import FakeSalesforce

    with FakeSalesforce() as org:
        for i in range(1000):
            org.org.add_contact(FirstName=f"F{i}", LastName="L", Email=f"sf{i}@example.com")
        # 16 calls left: the run's quarter of them is spent after two pages, and the run pauses.
        org.set_api_usage(used=org.api_limit - 17)
        env = {
            "DATABASE_URL": pg_only_url,
            "SALESFORCE_INSTANCE_URL": org.url,
            "SALESFORCE_ACCESS_TOKEN": org.issue_token(),
            "SALESFORCE_CA_BUNDLE": str(org.ca_path),
            "SALESFORCE_PAGE_SIZE": "200",
            "BATCH_SIZE": "100",
            # stderr is a pipe, not a terminal: rich would wrap at 80 columns (COLUMNS pins that here).
            "COLUMNS": "80",
        }
        result = cli("sync", "salesforce", cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("paused")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paused: salesforce: API budget of ")
    assert lines[0].endswith("; run the same command later to resume") and len(lines[0]) > 80


def test_create_admin_reads_the_password_from_stdin(
    pg_only_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_only_url)
    result = CliRunner().invoke(
        app, ["users", "create-admin", "--email", "Boss@Example.com"], input="Correct-Horse-9\n"
    )
    assert result.exit_code == 0, result.output
    refused = CliRunner().invoke(
        app, ["users", "create-admin", "--email", "boss@example.com"], input="Another-Horse-9\n"
    )
    assert refused.exit_code == 2
    assert "Traceback" not in refused.output
    from models import get_engine
    from sync.load import find_customer

    boss = find_customer(get_engine(pg_only_url), email="boss@example.com")
    assert boss is not None
    assert boss["admin"] is True


def test_sync_salesforce_without_credentials_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("SALESFORCE_")]:
        monkeypatch.delenv(name)
    result = CliRunner().invoke(app, ["sync", "salesforce", "--json"])
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_sync_salesforce_from_the_command_line(pg_only_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes.salesforce import FakeSalesforce

    with FakeSalesforce() as org:
        for i in range(30):
            org.org.add_contact(FirstName=f"F{i}", LastName="L", Email=f"sf{i}@example.com")
        # The direct-session mode needs no login host: the instance URL is the fake itself.
        monkeypatch.setenv("DATABASE_URL", pg_only_url)
        monkeypatch.setenv("SALESFORCE_INSTANCE_URL", org.url)
        monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", org.issue_token())
        monkeypatch.setenv("SALESFORCE_CA_BUNDLE", str(org.ca_path))
        result = CliRunner().invoke(app, ["sync", "salesforce", "--full", "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert (summary["status"], summary["read"], summary["created"]) == ("succeeded", 30, 30)
        again = json.loads(CliRunner().invoke(app, ["sync", "salesforce", "--json"]).stdout)
        assert again["created"] == again["updated"] == 0
