"""The `customer-sync` command line: imports, runs, customers, the database and the API."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from connectors.base import FatalSourceError
from connectors.csv import PRESETS, CsvStream
from models import SchemaOutOfDateError, SyncReject, SyncRun, ensure_schema, upgrade
from sync.csv_import import import_csv
from sync.customers import find_customer
from sync.log import configure_logging
from sync.pipeline import SUMMARY_KEYS, RunSummary
from sync.settings import Settings

app = typer.Typer(
    help="Sync customers from Salesforce, Spotify and CSV exports into the loyalty platform's store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)
import_app = typer.Typer(help="Import records from files.", no_args_is_help=True)
runs_app = typer.Typer(help="Sync runs: what ran, how it ended, what was rejected.", no_args_is_help=True)
customers_app = typer.Typer(help="Look customers up in the store.", no_args_is_help=True)
users_app = typer.Typer(help="Logins: create the first admin.", no_args_is_help=True)
sync_app = typer.Typer(help="Sync from a connected source.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(runs_app, name="runs")
app.add_typer(customers_app, name="customers")
app.add_typer(users_app, name="users")
app.add_typer(sync_app, name="sync")

err = Console(stderr=True)
out = Console()


class Kind(StrEnum):
    customers = "customers"
    orders = "orders"
    promotions = "promotions"
    redemptions = "redemptions"


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


def _settings() -> Settings:
    # Read afresh: one CLI call is one process in production, and tests invoke it in-process.
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit; never a traceback."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the store's schema to the newest revision."""
    settings = _settings()
    try:
        upgrade(settings.database_url)
    except sa.exc.OperationalError as exc:
        fail(f"cannot reach the database: {exc.orig}")
    out.print("database is up to date")


@import_app.command("csv")
def import_csv_command(
    path: Annotated[Path, typer.Argument(help="The CSV export to import.")],
    kind: Annotated[Kind, typer.Option(help="What the rows are.")] = Kind.customers,
    preset: Annotated[
        str | None, typer.Option(help=f"A bundled layout: {', '.join(PRESETS)}. Detected when omitted.")
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="A TOML mapping file for any other layout.")] = None,
    source_name: Annotated[
        str | None, typer.Option(help="Name of the source, e.g. shopify-eu (default: the preset's).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a CSV export into the store and print the run summary."""
    settings = _settings()
    show_progress = not as_json and err.is_terminal
    progress = Progress(
        TextColumn("[bold]importing[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show_progress,
    )
    task = progress.add_task(path.name, total=None)

    def on_batch(stream: CsvStream, counts: dict[str, int]) -> None:
        done, total = stream.progress()
        progress.update(task, completed=done, total=total)

    try:
        with progress:
            summary = import_csv(
                settings,
                path,
                kind=kind.value,
                preset_name=preset,
                mapping=mapping,
                source_name=source_name,
                on_batch=on_batch,
            )
    except FatalSourceError as exc:
        fail(str(exc))
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    _report(summary, as_json)


class SalesforceStreamName(StrEnum):
    contacts = "contacts"
    orders = "orders"


@sync_app.command("salesforce")
def sync_salesforce_command(
    stream: Annotated[
        SalesforceStreamName, typer.Option(help="What to sync: contacts → customers, orders → orders.")
    ] = SalesforceStreamName.contacts,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not only what changed.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Sync a Salesforce stream (resuming a paused or failed run) and print the run summary."""
    from sync.salesforce_sync import sync_salesforce

    settings = _settings()
    try:
        summary = sync_salesforce(settings, stream=stream.value, full=full, trigger="cli")
    except FatalSourceError as exc:
        fail(str(exc))
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    _report(summary, as_json)
    if summary.status == "paused":
        err.print(f"paused: {summary.error}; run the same command later to resume", highlight=False)


def _report(summary: RunSummary, as_json: bool) -> None:
    data = summary.as_dict()
    if as_json:
        _print_json({k: data[k] for k in ("run_id", "status", *SUMMARY_KEYS)})
        return
    table = Table(title=f"run {summary.run_id}: {summary.status}", show_header=False)
    for key in (*SUMMARY_KEYS, "conflicts"):
        table.add_row(key, str(data[key]))
    out.print(table)
    if data["rejected"] or data["warnings"]:
        out.print(f"see why: customer-sync runs show {summary.run_id}")


def _engine() -> sa.Engine:
    settings = _settings()
    try:
        return ensure_schema(settings.database_url)
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
        raise  # unreachable: fail() exits


_RUN_COLUMNS = (
    "id",
    "source",
    "stream",
    "mode",
    "trigger",
    "status",
    *SUMMARY_KEYS,
    "started_at",
    "finished_at",
)


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest runs.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest sync runs, with their counts."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with _engine().connect() as conn:
        rows = conn.execute(
            sa.select(*[runs.c[c] for c in _RUN_COLUMNS]).order_by(runs.c.started_at.desc()).limit(limit)
        ).mappings()
        data = [dict(r) for r in rows]
    if as_json:
        _print_json(data)
        return
    table = Table("run", "source", "stream", "status", "read", "created", "updated", "rejected", "started")
    for r in data:
        table.add_row(
            r["id"],
            r["source"],
            r["stream"],
            r["status"],
            str(r["read"]),
            str(r["created"]),
            str(r["updated"]),
            str(r["rejected"]),
            r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id (from `runs list`).")],
    as_json: JsonOption = False,
) -> None:
    """One run with its rejects and warnings (line, reason, message, raw)."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    rejects = SyncReject.__table__  # type: ignore[attr-defined]
    with _engine().connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
        if run is None:
            fail(f"no run {run_id!r}")
            return
        issues = (
            conn.execute(
                sa.select(
                    rejects.c.severity,
                    rejects.c.line,
                    rejects.c.source_id,
                    rejects.c.field,
                    rejects.c.reason,
                    rejects.c.message,
                    rejects.c.raw,
                )
                .where(rejects.c.run_id == run_id)
                .order_by(rejects.c.line, rejects.c.pk)
            )
            .mappings()
            .all()
        )
    data = dict(run)
    data["rejects"] = [dict(i) for i in issues if i["severity"] == "reject"]
    data["warnings_detail"] = [dict(i) for i in issues if i["severity"] == "warning"]
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"run {run_id}", show_header=False)
    for key in ("source", "stream", "mode", "trigger", "status", *SUMMARY_KEYS, "conflicts", "error"):
        table.add_row(key, str(data[key]))
    out.print(table)
    for title, items in (("rejects", data["rejects"]), ("warnings", data["warnings_detail"])):
        if not items:
            continue
        t = Table("line", "reason", "field", "message", "raw", title=title)
        for i in items:
            t.add_row(
                str(i["line"] or ""), i["reason"], i["field"] or "", i["message"], (i["raw"] or "")[:60]
            )
        out.print(t)


@runs_app.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument(help="The stopped run's id (from `runs list`).")],
    force: Annotated[
        bool, typer.Option("--force", help="Resume a run still marked running (its process died).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Carry a failed, paused or crashed run on from its last committed batch."""
    from sync.resume import resume_run

    settings = _settings()
    try:
        summary = resume_run(settings, run_id, force=force)
    except FatalSourceError as exc:
        fail(str(exc))
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    _report(summary, as_json)


@customers_app.command("get")
def customers_get(
    email: Annotated[str | None, typer.Option(help="Find by e-mail (case-blind).")] = None,
    loyalty_id: Annotated[str | None, typer.Option(help="Find by loyalty id.")] = None,
    pk: Annotated[int | None, typer.Option(help="Find by integer key.")] = None,
    as_json: JsonOption = False,
) -> None:
    """One customer, with the documented field names."""
    if sum(x is not None for x in (email, loyalty_id, pk)) != 1:
        fail("give exactly one of --email, --loyalty-id, --pk")
    customer = find_customer(_engine(), email=email, loyalty_id=loyalty_id, pk=pk)
    if customer is None:
        fail("no such customer", code=1)
        return
    if as_json:
        _print_json(customer)
        return
    table = Table(show_header=False)
    for key, value in customer.items():
        table.add_row(
            key, "" if value is None else json.dumps(value) if isinstance(value, dict) else str(value)
        )
    out.print(table)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql, health at /healthz)."""
    from api import serve as serve_api  # the API's imports are only paid for when serving

    _settings()
    try:
        serve_api(host=host, port=port)
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")


@users_app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's e-mail (their login).")],
) -> None:
    """Create the first admin; the password is read from a prompt, or stdin when piped."""
    from api import AdminCreationError
    from api import create_admin as create
    from models import session_scope

    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        fail("no password given on stdin")
    engine = _engine()
    try:
        with session_scope(engine) as session:
            pk = create(session, email, password)
    except AdminCreationError as exc:
        fail(str(exc))
        return
    out.print(f"admin {email} created (customer {pk})")


def main() -> None:
    """Entry point for `python -m sync`."""
    app()
