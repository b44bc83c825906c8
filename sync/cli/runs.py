"""`customer-sync runs`: what ran, how it ended, what was rejected; resuming a stopped run."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich import box
from rich.table import Table

from connectors import FatalSourceError
from models import RunStatus, SchemaOutOfDateError, SyncChunk, SyncPage, SyncReject, SyncRun, utcnow
from sync.cli._common import (
    JsonOption,
    fail,
    fail_source,
    fail_unexpected,
    interrupted,
    one_of,
    open_store,
    out,
    print_json,
    read_settings,
    report,
)
from sync.cli._display import shown, visible
from sync.cli._worker import enqueue, has_broker, report_queued
from sync.jobs import check_resumable_csv
from sync.pipeline import SUMMARY_KEYS, StreamBusy, lease_expiry, resolve_run_id, still_held

app = typer.Typer(help="Sync runs: what ran, how it ended, what was rejected.", no_args_is_help=True)


_RUN_COLUMNS = (
    "id",
    "source",
    "stream",
    "mode",
    "trigger",
    "status",
    "task_id",
    "held_by",
    *SUMMARY_KEYS,
    "conflicts",
    "started_at",
    "finished_at",
)


@app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest runs.")] = 20,
    status: Annotated[
        RunStatus | None,
        typer.Option(
            metavar="STATUS",
            help=f"Only runs in this state: {one_of(RunStatus)} (failed: to retry them).",
            show_choices=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The newest sync runs: what started them (trigger), their Celery task, and their counts."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    query = sa.select(*[runs.c[c] for c in _RUN_COLUMNS]).order_by(runs.c.started_at.desc()).limit(limit)
    if status is not None:
        query = query.where(runs.c.status == status.value)
    with open_store().connect() as conn:
        rows = conn.execute(query).mappings()
        data = [dict(r) for r in rows]
    if as_json:
        print_json(data)
        return
    cells = [
        (
            r["id"],
            r["source"],
            r["stream"],
            r["trigger"],
            r["task_id"] or "",
            r["status"],
            str(r["read"]),
            str(r["created"]),
            str(r["updated"]),
            str(r["rejected"]),
            r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
        )
        for r in data
    ]
    if not out.is_terminal:
        # In a pipe: one tab-separated line per run, nothing cut, for grep/cut/xargs.
        for row in cells:
            sys.stdout.write("\t".join(map(visible, row)) + "\n")
        return
    table = _full_table(cells)
    # The table's own width, every cell whole: on a terminal narrower than that, rich squeezes
    # eleven columns into unreadable slivers, so a shorter view stands in.
    if out.measure(table, options=out.options.update_width(10_000)).maximum > out.width:
        table = _narrow_table(data, utcnow())
    out.print(table)


def _full_table(cells: Sequence[tuple[str, ...]]) -> Table:
    table = Table()
    # The id is what an operator copies into `runs show`/`runs retry`: never cut or wrap it.
    table.add_column("run", no_wrap=True)
    for name in (
        "source",
        "stream",
        "trigger",
        "task",
        "status",
        "read",
        "created",
        "updated",
        "rejected",
        "started",
    ):
        table.add_column(name)
    for row in cells:
        # A source's name is whatever an import was given: shown, never obeyed.
        table.add_row(*map(shown, row))
    return table


# 48 bits of the id, which `runs show` takes as it takes the whole: a store would need millions
# of runs before two began alike, and `runs show` then asks for more of the id.
_SHORT_ID = 12


def _narrow_table(runs: list[dict[str, Any]], now: datetime) -> Table:
    """One line per run on an 80-column terminal: the id's first characters, which `runs show`
    takes; source/stream cut with an ellipsis; counts in brief; how long ago it started.

    Trigger, task and the exact figures are in `runs show` and `--json`.
    """
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("run", no_wrap=True)
    # The one column that gives way (wrappable, so rich narrows it first); its text is cut.
    table.add_column("source")
    table.add_column("status", no_wrap=True)
    for name in ("read", "created", "updated", "rejected", "started"):
        table.add_column(name, no_wrap=True, justify="right")
    for r in runs:
        source = shown(f"{r['source']}/{r['stream']}")
        source.no_wrap, source.overflow = True, "ellipsis"
        counts = (_brief_count(r[key]) for key in ("read", "created", "updated", "rejected"))
        table.add_row(r["id"][:_SHORT_ID], source, r["status"], *counts, _age(r["started_at"], now))
    return table


def _brief_count(n: int) -> str:
    """`n` in at most five characters: 9999, 12k, 1.2M."""
    if n < 10_000:
        return str(n)
    if n < 999_500:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def _age(started: datetime, now: datetime) -> str:
    """How long ago, in its largest whole unit: 40s, 12m, 3h, 9d."""
    seconds = max(0, int((now - started).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


@app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id (from `runs list`), or its first characters.")],
    as_json: JsonOption = False,
) -> None:
    """One run with its rejects and warnings (line, reason, message, raw)."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    rejects = SyncReject.__table__  # type: ignore[attr-defined]
    chunk_table = SyncChunk.__table__  # type: ignore[attr-defined]
    page_table = SyncPage.__table__  # type: ignore[attr-defined]
    with open_store().connect() as conn:
        try:
            run_id = resolve_run_id(conn, run_id)
        except FatalSourceError as exc:
            fail(str(exc))
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
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
        chunks = conn.execute(
            sa.select(
                chunk_table.c["index"],
                chunk_table.c.start,
                chunk_table.c.end,
                chunk_table.c.records,
                chunk_table.c.status,
                chunk_table.c.deliveries,
                chunk_table.c.error,
            )
            .where(chunk_table.c.run_id == run_id)
            .order_by(chunk_table.c["index"])
        ).mappings()
        data = dict(run)
        # A fanned-out run: each byte range, how far it got, how often it was delivered.
        data["chunks"] = [dict(c) for c in chunks]
        pages = conn.execute(
            sa.select(
                page_table.c["index"],
                page_table.c.first_position,
                page_table.c.rows,
                page_table.c.records,
                page_table.c.status,
                page_table.c.deliveries,
                page_table.c.error,
            )
            .where(page_table.c.run_id == run_id)
            .order_by(page_table.c["index"])
        ).mappings()
        # A Bulk run fanned out by result page: the same, per page (no locator: it is the
        # source's, and the task's arguments show it).
        data["pages"] = [dict(p) for p in pages]
    data["rejects"] = [dict(i) for i in issues if i["severity"] == "reject"]
    data["warnings_detail"] = [dict(i) for i in issues if i["severity"] == "warning"]
    if as_json:
        print_json(data)
        return
    # The run id in a row, not the title, which wrapped it at the table's width.
    table = Table(show_header=False)
    table.add_row("run", run_id)
    for key in (
        "source",
        "stream",
        "mode",
        "trigger",
        "task_id",
        "status",
        "held_by",
        *SUMMARY_KEYS,
        "conflicts",
        "error",
    ):
        table.add_row(key, shown(data[key]))
    out.print(table)
    if data["chunks"]:
        t = Table("chunk", "bytes", "records", "status", "deliveries", "error", title="chunks")
        for c in data["chunks"]:
            t.add_row(
                str(c["index"]),
                f"{c['start']}-{c['end']}",
                str(c["records"]),
                c["status"],
                str(c["deliveries"]),
                shown(c["error"] or ""),
            )
        out.print(t)
    if data["pages"]:
        t = Table("page", "records", "loaded", "status", "deliveries", "error", title="Bulk result pages")
        for p in data["pages"]:
            first, rows = p["first_position"], p["rows"]
            t.add_row(
                str(p["index"]),
                f"{first}-{first + rows - 1}" if rows else "not read yet",
                str(p["records"]),
                p["status"],
                str(p["deliveries"]),
                shown(p["error"] or ""),
            )
        out.print(t)
    for title, items in (("rejects", data["rejects"]), ("warnings", data["warnings_detail"])):
        if not items:
            continue
        t = Table("line", "reason", "field", "message", "raw", title=title)
        for i in items:
            # Messages quote the values a source sent, and raw is the row itself.
            t.add_row(
                str(i["line"] or ""),
                *map(shown, (i["reason"], i["field"] or "", i["message"], (i["raw"] or "")[:60])),
            )
        out.print(t)


@app.command("resume")
def runs_resume(
    run_id: Annotated[
        str, typer.Argument(help="The stopped run's id (from `runs list`), or its first characters.")
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Accepted for old scripts; the run's lease decides whether it is alive."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Carry a failed, paused or crashed run on from its last committed batch.

    A run whose lease is live is refused, saying when it expires: resuming it beside a live
    owner would count its batches twice, and a dead owner's lease looks the same until it runs
    out (RUN_LEASE_SECONDS after its last renewal).
    """
    from sync.jobs import resume_run

    settings = read_settings()
    try:
        summary = resume_run(settings, run_id, force=force)
    except FatalSourceError as exc:
        fail_source(exc, as_json)
    except StreamBusy as exc:
        fail(str(exc))
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    except KeyboardInterrupt as exc:
        interrupted(exc)
    except Exception as exc:
        fail_unexpected(exc, as_json)
    report(summary, as_json)


@app.command("retry")
def runs_retry(
    run_id: Annotated[
        str,
        typer.Argument(
            help="The failed or paused run's id (from `runs list --status failed`), or its first characters."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Re-run a failed, paused or abandoned run from its checkpoint.

    With CELERY_BROKER_URL set, the worker does it (task sync.run.retry) and this prints the
    run id; without, it runs here, as `runs resume` does. A run still alive is refused.
    """
    settings = read_settings()
    if not has_broker(settings):
        runs_resume(run_id, force=False, as_json=as_json)
        return
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    engine = open_store()
    with engine.connect() as conn:
        try:
            run_id = resolve_run_id(conn, run_id)
        except FatalSourceError as exc:
            fail(str(exc))
        run = conn.execute(
            sa.select(runs.c.source, runs.c.stream, runs.c.status, runs.c.params).where(runs.c.id == run_id)
        ).first()
    if run is None:
        fail(f"no run {run_id!r}")
        return
    if run.status in (RunStatus.SUCCEEDED, RunStatus.SKIPPED):
        fail(f"run {run_id} already {run.status}; nothing to retry")
    expires_at = lease_expiry(engine, run.source, run.stream, run_id)
    if expires_at is not None:
        fail(f"{still_held(run_id, expires_at)}; nothing done")
    if "path" in (run.params or {}):
        # A changed or missing file fails the task at once: say so here rather than queue it.
        try:
            check_resumable_csv(settings, run_id)
        except FatalSourceError as exc:
            fail(str(exc))
    task_id = enqueue(settings, "sync.run.retry", {"run_id": run_id})
    report_queued(run_id, task_id, as_json)
