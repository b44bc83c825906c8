"""What a CSV sent never drives the operator's terminal: the CLI shows control characters escaped."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

import sync.cli.runs
from sync.cli import app
from sync.cli.imports import progress_label

# A first name that would set the terminal's title and clear its screen, a last name that is
# rich markup and ends in a right-to-left override, a header that would make text blink, and
# an unusable e-mail (a reject, whose message and raw row quote it) that would turn text red.
FIRST_NAME = "Eve\x1b]0;pwned\x07\x1b[2J"
LAST_NAME = "[bold]Lee[/bold]\u202e"
EVIL_CSV = (
    "entitySourceId,email,firstname,lastname,updatedAt,Note\x1b[5m\n"
    f"c-1,eve@example.com,{FIRST_NAME},{LAST_NAME},2025-01-01T10:00:00+00:00,hi\n"
    "c-2,not-an-email\x1b[31m,Mal,Lory,2025-01-01T10:00:00+00:00,hi\n"
)
# Tab and newline lay the output out; anything else below U+0020, DEL, C1 and the bidi
# embeddings, overrides and isolates must never reach the terminal raw.
_RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def imported(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The run id of an import of EVIL_CSV, under a source name that is rich markup."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    path = tmp_path / "evil.csv"
    path.write_text(EVIL_CSV, encoding="utf-8")
    done = CliRunner().invoke(
        app, ["import", "csv", str(path), "--preset", "native", "--source-name", "shop[red]x", "--json"]
    )
    assert done.exit_code == 0, done.output
    return str(json.loads(done.stdout)["run_id"])


def _assert_shown_not_obeyed(output: str) -> None:
    assert not _RAW_CONTROLS.findall(output), output


def test_customers_get_shows_control_characters_and_markup_escaped(imported: str) -> None:
    got = CliRunner().invoke(app, ["customers", "get", "--email", "eve@example.com"])
    assert got.exit_code == 0, got.output
    _assert_shown_not_obeyed(got.stdout)
    assert "Eve\\x1b]0;pwned\\x07\\x1b[2J" in got.stdout
    assert "[bold]Lee[/bold]\\u202e" in got.stdout


def test_customers_get_json_keeps_the_text_whole_with_every_control_escaped(imported: str) -> None:
    got = CliRunner().invoke(app, ["customers", "get", "--email", "eve@example.com", "--json"])
    assert got.exit_code == 0, got.output
    _assert_shown_not_obeyed(got.stdout)
    customer = json.loads(got.stdout)
    assert (customer["firstname"], customer["lastname"]) == (FIRST_NAME, LAST_NAME)


def test_runs_show_escapes_the_rejected_row_and_its_message(imported: str) -> None:
    shown = CliRunner().invoke(app, ["runs", "show", imported])
    assert shown.exit_code == 0, shown.output
    _assert_shown_not_obeyed(shown.stdout)
    assert "\\x1b[31m" in shown.stdout
    assert "shop[red]x" in shown.stdout


def test_runs_list_shows_a_source_name_as_it_is_in_a_pipe_and_on_a_terminal(
    imported: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = CliRunner().invoke(app, ["runs", "list"])
    assert piped.exit_code == 0, piped.output
    (line,) = [line for line in piped.stdout.splitlines() if line.startswith(imported)]
    assert line.split("\t")[1] == "shop[red]x"
    # A terminal without colours: rich's own styling adds no escape codes to look for.
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, color_system=None, width=200)
    monkeypatch.setattr(sync.cli.runs, "out", terminal)
    assert CliRunner().invoke(app, ["runs", "list"]).exit_code == 0
    assert "shop[red]x" in screen.getvalue()


def test_the_import_summary_shows_a_header_name_escaped(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "evil.csv"
    path.write_text(EVIL_CSV, encoding="utf-8")
    done = CliRunner().invoke(
        app, ["import", "csv", str(path), "--preset", "native"], env={"DATABASE_URL": sqlite_url}
    )
    assert done.exit_code == 0, done.output
    _assert_shown_not_obeyed(done.stdout)
    assert "Note\\x1b[5m" in done.stdout


def test_a_one_line_failure_quoting_the_file_escapes_it(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "evil\x1b[2J.csv"
    refused = CliRunner().invoke(app, ["import", "csv", str(path)], env={"DATABASE_URL": sqlite_url})
    assert refused.exit_code == 2
    _assert_shown_not_obeyed(refused.stderr)
    assert "evil\\x1b[2J.csv" in refused.stderr


def test_the_progress_bar_shows_a_file_name_escaped() -> None:
    """The bar's label is rich markup: a name's controls escaped, its brackets inert."""
    label = progress_label(Path("ctl\x1b]0;FILE\x07\u202e[bold]x[red].csv"))
    shown = Text.from_markup(f"[bold]importing[/] {label}").plain
    assert shown == "importing ctl\\x1b]0;FILE\\x07\\u202e[bold]x[red].csv"
