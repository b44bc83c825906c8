"""Every command, run with a mistaken setting: one line naming it and what is expected, exit 2."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from models import SyncRun, get_engine
from sync.cli import app
from sync.settings import Settings, describe_settings_error

BAD_SETTINGS = [
    ("BATCH_SIZE", "abc", "BATCH_SIZE"),
    ("BATCH_SIZE", "0", "BATCH_SIZE"),
    ("ACCESS_TOKEN_TTL_SECONDS", "2", "ACCESS_TOKEN_TTL_SECONDS"),
    ("SOURCE_PRIORITY", "{bad", "SOURCE_PRIORITY"),
    # An import ranked with the sign-up source would rewrite what people typed into accounts.
    ("SOURCE_PRIORITY", '{"csv": 100}', "SOURCE_PRIORITY"),
    ("SOURCE_PRIORITY", '{"internal": 10}', "SOURCE_PRIORITY"),
    ("SOURCE_PRIORITY", '{"internal-eu": 200}', "SOURCE_PRIORITY"),
    ("SOURCE_PRIORITY", '{"shopify": true}', "SOURCE_PRIORITY"),
    # A webhook writing under the sign-up source rewrote people's accounts, e-mail and all.
    ("WEBHOOK_SOURCES", '["shopify", "internal-eu"]', "WEBHOOK_SOURCES"),
    ("WEBHOOK_SOURCES", '["internal"]', "WEBHOOK_SOURCES"),
    ("LOG_LEVEL", "trace", "LOG_LEVEL"),
    # Past a 32-bit column: every run failed mid-way and stayed `running` (review).
    ("SOURCE_PRIORITY", '{"csv": -3000000000}', "SOURCE_PRIORITY"),
    ("SOURCE_PRIORITY", '{"": 5}', "SOURCE_PRIORITY"),
    ("WEBHOOK_SOURCES", '["a b"]', "WEBHOOK_SOURCES"),
    ("DATABASE_URL", "mysql://root@127.0.0.1/shop", "postgresql"),
    # Unlike an empty MAPPING_WORKERS: a deployment's unset secret, not a wish for a local file.
    ("DATABASE_URL", "", "DATABASE_URL"),
    ("FLOWER_BASIC_AUTH", "operator", "FLOWER_BASIC_AUTH"),
]


def _leaf_commands(group: Any, prefix: list[str]) -> list[list[str]]:
    """Every command of the app, with a placeholder for each required argument or option."""
    found: list[list[str]] = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            found += _leaf_commands(command, [*prefix, name])
        else:
            args = [*prefix, name]
            for param in command.params:
                if not param.required:
                    continue
                if param.param_type_name == "argument":
                    args.append("x")
                else:
                    args += [param.opts[0], "x@example.com"]
            found.append(args)
    return found


COMMANDS = _leaf_commands(typer.main.get_command(app), [])


def test_the_command_list_is_complete() -> None:
    names = {" ".join(c[:2]) if c[0] not in ("serve",) else c[0] for c in COMMANDS}
    assert {"import csv", "runs list", "customers get", "db upgrade", "serve", "users create-admin",
            "sync salesforce", "merchants approve", "stores assign"} <= names  # fmt: skip


@pytest.mark.parametrize(("name", "value", "named"), BAD_SETTINGS)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_with_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], name: str, value: str, named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, command, input="Some-Long-Password-1\n")
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.output
    assert "expected" in lines[0] or "supported" in lines[0] or "must" in lines[0]
    assert not (tmp_path / "customer_sync.db").exists()


@pytest.mark.parametrize(
    "name", ["MAPPING_WORKERS", "BATCH_SIZE", "SALESFORCE_LOOKBACK_SECONDS", "SPOTIFY_BATCH_SIZE"]
)
def test_an_empty_optional_setting_is_unset_and_the_import_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv(name, "")
    (tmp_path / "f.csv").write_text("email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n")
    result = CliRunner().invoke(app, ["import", "csv", "f.csv", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["created"]) == ("succeeded", 2)


def test_a_partial_source_priority_changes_only_what_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, `SOURCE_PRIORITY='{"shopify": 70}'` dropped every default: the sign-up source
    then ranked as `csv` (30), below Salesforce, whose records rewrote what people typed."""
    monkeypatch.setenv("SOURCE_PRIORITY", '{"shopify": 70, "my-crm": 85}')
    settings = Settings()
    assert [settings.priority_of(s) for s in ("shopify", "my-crm", "internal", "salesforce", "csv")] == [
        70, 85, 100, 80, 30,
    ]  # fmt: skip


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_database_urls_as_people_write_them_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str, scheme: str
) -> None:
    rest = pg_url.split("://", 1)[1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"{scheme}://{rest}")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout


SESSION_ID = "00D5g000004XyzA!AQ0AQH8bS3cretS3ssionTok3nValueThatMustNeverBeSt0red.abcdefXYZ"


def _salesforce_env(monkeypatch: pytest.MonkeyPatch, url: str, database_url: str) -> None:
    for key in [k for k in os.environ if k.startswith("SALESFORCE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", url)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", SESSION_ID)
    monkeypatch.setenv("SALESFORCE_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("SALESFORCE_RETRY_INITIAL_WAIT_SECONDS", "0")
    monkeypatch.setenv("SALESFORCE_RETRY_MAX_WAIT_SECONDS", "0")
    monkeypatch.setenv("SALESFORCE_REQUEST_TIMEOUT_SECONDS", "5")


def _the_run(database_url: str) -> sa.Row[object]:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with get_engine(database_url).connect() as conn:
        return conn.execute(sa.select(runs)).one()


def test_sync_salesforce_against_an_unreachable_instance_is_one_line_and_a_failed_run(
    pg_only_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _salesforce_env(monkeypatch, f"https://127.0.0.1:{port}", pg_only_url)

    result = CliRunner().invoke(app, ["sync", "salesforce", "--json"])

    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.strip().splitlines() if not line.startswith("{")]
    assert len(errors) == 1, result.stderr
    assert "cannot reach Salesforce" in errors[0]
    assert "Traceback" not in result.output
    assert SESSION_ID not in result.output
    run = _the_run(pg_only_url)
    assert run.status == "failed"
    assert "cannot reach Salesforce" in run.error


def test_a_salesforce_error_body_is_redacted_before_it_is_stored_or_logged(
    pg_only_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.salesforce import FakeSalesforce

    with FakeSalesforce() as org:
        _salesforce_env(monkeypatch, org.url, pg_only_url)
        monkeypatch.setenv("SALESFORCE_CA_BUNDLE", str(org.ca_path))
        monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", org.issue_token())
        leaky = (
            f"Session {SESSION_ID} rejected; Authorization: Bearer {SESSION_ID} "
            'access_token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"'
        )
        org.fail_next("/query", kind="server_error", status=400, times=None, message=leaky)
        result = CliRunner().invoke(app, ["sync", "salesforce", "--json"])

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    run = _the_run(pg_only_url)
    assert run.status == "failed"
    for secret in (SESSION_ID, "c2lnbmF0dXJlLXZhbHVl", "eyJzdWIiOiIxIn0"):
        assert secret not in run.error
        assert secret not in result.output
    assert "[redacted]" in run.error
    # The rest of the body stays, so an operator can still see why.
    assert "rejected" in run.error
    json.dumps(run.error)


@pytest.mark.parametrize("command", [["customer-sync", "runs", "list"], ["celery", "-A", "sync", "worker"]])
def test_a_bad_setting_is_one_line_from_a_fresh_process_too(tmp_path: Path, command: list[str]) -> None:
    # In a new process `sync.celery` builds its app while the CLI is imported, before any
    # command reads the settings: that import must not be where a bad setting surfaces.
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "BATCH_SIZE": "abc"}
    done = subprocess.run(
        [str(bin_dir / command[0]), *command[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "BATCH_SIZE" in lines[0] and "expected" in lines[0], done.stderr


@pytest.mark.parametrize(
    "value", ["operator", "operator:", ":hunter2-pw", "alice:hunter2-pw,bob", "alice:hunter2-pw,bob:", " :pw"]
)
def test_flower_logins_without_a_user_or_a_password_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(flower_basic_auth=value)
    said = describe_settings_error(caught.value)
    assert said == (
        "FLOWER_BASIC_AUTH is not valid: expected user:password (several joined by commas), "
        "each with a user and a password"
    )


@pytest.mark.parametrize("value", ["operator:pw", "alice:pw,bob:other", "carol:pass:with:colons"])
def test_flower_logins_as_flower_reads_them_are_accepted(value: str) -> None:
    given = Settings(flower_basic_auth=value).flower_basic_auth
    assert given is not None and given.get_secret_value() == value


def test_an_empty_flower_login_is_no_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "")
    assert Settings().flower_basic_auth is None


def test_an_empty_database_url_in_dot_env_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `.env` is read as the environment is: blank there is the same unset secret.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / ".env").write_text("DATABASE_URL=\nMAPPING_WORKERS=\n")
    result = CliRunner().invoke(app, ["runs", "list"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "error: DATABASE_URL is not valid: it is empty; expected postgresql://USER@HOST/DB or "
        "sqlite:///PATH, or no DATABASE_URL for an SQLite file here"
    ]
    assert not (tmp_path / "customer_sync.db").exists()
