"""What the command groups share: settings, consoles, one-line failures and run reports."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connectors import FatalSourceError, redact
from models import RunStatus, SchemaOutOfDateError, ensure_schema
from sync.cli._display import json_safe, shown
from sync.log import configure_logging, get_logger
from sync.pipeline import SUMMARY_KEYS, RunSummary, brief_error, recorded_error, stopped_run
from sync.settings import Settings, describe_settings_error

# Nothing on stderr is wrapped at the terminal's width: an error is one line a script can grep,
# and a log line printed above the progress bar (rich routes stderr through this console while
# the bar shows) stays one line of JSON.
err = Console(stderr=True, soft_wrap=True)
out = Console()
log = get_logger("sync.cli")


def one_of(choices: type[StrEnum]) -> str:
    """The values of a choice option as help text reads them: `a, b or c`.

    Help shows them in the text, not as the option's `[a|b|c]` value, which the help's
    narrow middle column broke inside a word (`promotio` / `ns`).
    """
    values = [str(c) for c in choices]
    return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else values[0]


class Kind(StrEnum):
    """What the rows of a file are."""

    customers = "customers"
    orders = "orders"
    promotions = "promotions"
    redemptions = "redemptions"


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


def read_settings() -> Settings:
    # Read afresh: one CLI call is one process in production, and tests invoke it in-process.
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        fail(describe_settings_error(exc))
    configure_logging(settings.log_level, settings.log_json)
    return settings


def read_signing_settings() -> Settings:
    """The settings, for a command that signs tokens: refused with a default or short SECRET_KEY
    outside development (whoever knows the key could sign any token)."""
    settings = read_settings()
    problem = settings.signing_key_problem()
    if problem is not None:
        fail(problem)
    return settings


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and a non-zero exit; never a traceback."""
    # Driver messages span lines ("... refused\n\tIs the server running ..."): keep one.
    line = " ".join(message.split())
    # The message may quote a file's header or a driver's text: shown, never obeyed.
    err.print(Text.assemble(("error:", "bold red"), " ", shown(line)), soft_wrap=True)
    raise typer.Exit(code)


def fail_source(exc: FatalSourceError, as_json: bool, *, redacted: bool = False) -> NoReturn:
    """A source error in one line: exit 1 naming the run it failed, else exit 2 (nothing ran).

    Exit 2 is for what the user must fix in the command, its file or the settings before
    anything can run (a missing or changed file, an unknown preset, no credentials); a run
    recorded `failed` is exit 1 from every command, as for an unexpected error. `redacted`: the
    source may quote a secret even in an error raised before any run (a login's answer).
    """
    run = stopped_run(exc)
    if exc.run_id is None:
        fail(redact(str(exc)) if redacted else str(exc))
    if as_json and run is not None:
        print_json(summary_json(run))
    # What the run record keeps of it (sources quote session ids: redacted there too).
    why = run.error if run is not None and run.error else redact(str(exc))
    fail(f"run {exc.run_id} failed: {why}", 1)


def fail_unexpected(exc: Exception, as_json: bool) -> NoReturn:
    """An error no command expects (a bug, a constraint an operator added): one line, exit 1.

    Never its traceback here: a database error's quotes the statement and the driver's DETAIL
    (customer data). The log has the traceback once: the pipeline's `run.failed` line for a
    run it stopped, else the `cli.failed` line written here.
    """
    run = stopped_run(exc)
    what = redact(brief_error(exc))
    if run is None:
        log.exception("cli.failed", error=type(exc).__name__, exc_info=exc)
        if as_json:
            print_json({"run_id": None, "status": RunStatus.FAILED, "error": redact(recorded_error(exc))})
        fail(f"an unexpected error stopped the command: {what}; the log has its traceback (cli.failed)", 1)
    if as_json:
        print_json(summary_json(run))
    fail(f"run {run.run_id} failed on an unexpected error: {what}; the log has its traceback (run.failed)", 1)


def interrupted(exc: KeyboardInterrupt, *, from_stdin: bool = False) -> NoReturn:
    """Ctrl-C: one line saying what became of the run, and exit 130 as shells expect.

    `from_stdin`: the run read standard input, which `runs resume` cannot read again.
    """
    run = stopped_run(exc)
    if run is None:
        err.print("interrupted", highlight=False)
    elif from_stdin:
        err.print(
            shown(
                f"interrupted: run {run.run_id} stopped after its last committed batch; it read"
                " standard input, which cannot be read again: import the whole input afresh"
                " (the rows it loaded are then found unchanged)"
            ),
            soft_wrap=True,
        )
    elif run.status == RunStatus.PAUSED:
        err.print(
            shown(
                f"interrupted: run {run.run_id} paused after its last committed batch; "
                f"`customer-sync runs resume {run.run_id}` carries it on"
            ),
            soft_wrap=True,
        )
    else:
        # It could not be recorded paused (the store did not answer): its lease must run out.
        err.print(
            shown(
                f"interrupted: run {run.run_id} stopped after its last committed batch; "
                f"`customer-sync runs resume {run.run_id}` carries it on once its lease runs out "
                "(RUN_LEASE_SECONDS)"
            ),
            soft_wrap=True,
        )
    raise typer.Exit(130)


def print_json(data: Any) -> None:
    sys.stdout.write(json_safe(json.dumps(data, default=str, ensure_ascii=False)) + "\n")


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """A run's summary as `--json` prints it."""
    data = summary.as_dict()
    # The same figures as the table: conflicts too, though they are also counted as warnings.
    file_keys = ("layout", "columns", "encoding") if "layout" in data else ()
    keys = ("run_id", "status", *SUMMARY_KEYS, "conflicts", *file_keys)
    return {k: data[k] for k in keys} | _why_stopped(summary)


def report(summary: RunSummary, as_json: bool) -> None:
    """Print how a run ended; exit 3 for a skipped run and 1 for a failed one (scripts must notice)."""
    if as_json:
        print_json(summary_json(summary))
    elif summary.status == RunStatus.SKIPPED:
        # One line whatever the width: a script greps it, and a pipe is no 80-column terminal.
        err.print(shown(f"skipped: {summary.error}; run {summary.run_id} did nothing"), soft_wrap=True)
    elif summary.status != RunStatus.FAILED:
        _report_table(summary, summary.as_dict())
    if summary.status == RunStatus.SKIPPED:
        # Nothing was imported: scripts must notice.
        raise typer.Exit(3)
    if summary.status == RunStatus.FAILED:
        # A fanned-out run whose chunk or page failed ends here rather than by an exception:
        # the same line and exit as a run that failed in one piece.
        fail(f"run {summary.run_id} failed: {summary.error or 'no reason recorded'}", 1)


def _why_stopped(summary: RunSummary) -> dict[str, Any]:
    return {"error": summary.error} if summary.status in (RunStatus.SKIPPED, RunStatus.FAILED) else {}


def _report_table(summary: RunSummary, data: dict[str, Any]) -> None:
    if summary.layout is not None:
        # Which layout was taken and where each column went: a wrong guess shows here, not later.
        # The file's own header names: shown as they are, whatever they hold.
        columns = Table("column", "goes to", title=shown(f"layout: {summary.layout}"))
        for column, destination in (summary.columns or {}).items():
            columns.add_row(shown(column), shown(destination))
        out.print(columns)
    # The run id in a row, not the title: a title wraps at the table's width, which cut the
    # id in two even on a wide terminal, and people copy it from here.
    table = Table(show_header=False)
    table.add_row("run", summary.run_id)
    table.add_row("status", str(summary.status))
    if summary.encoding:
        # A file's encoding is a guess when it has no BOM: shown, a wrong one is seen here.
        table.add_row("read as", summary.encoding)
    for key in (*SUMMARY_KEYS, "conflicts"):
        table.add_row(key, str(data[key]))
    out.print(table)
    if data["rejected"] or data["warnings"]:
        out.print(f"see why: customer-sync runs show {summary.run_id}")


def open_store() -> sa.Engine:
    settings = read_settings()
    try:
        return ensure_schema(settings.database_url)
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
