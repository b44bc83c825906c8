"""`customer-sync import`: import records from files (CSV exports)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from connectors import FatalSourceError
from connectors.csv import CsvStream
from models import SchemaOutOfDateError
from sync.cli._common import (
    JsonOption,
    Kind,
    err,
    fail,
    fail_source,
    fail_unexpected,
    interrupted,
    one_of,
    read_settings,
    report,
)
from sync.cli._display import visible
from sync.cli._worker import enqueue, report_queued, require_broker
from sync.jobs import import_csv, queue_csv
from sync.mapping import PRESETS
from sync.pipeline import StreamBusy
from sync.settings import Settings

app = typer.Typer(help="Import records from files.", no_args_is_help=True)


def progress_label(path: Path) -> str:
    """The file's name as the progress bar's markup shows it: controls escaped, markup inert."""
    return "standard input" if str(path) == "-" else escape(visible(path.name))


@app.command("csv")
def import_csv_command(
    path: Annotated[Path, typer.Argument(help="The CSV export to import; - reads it from standard input.")],
    kind: Annotated[
        Kind, typer.Option(metavar="KIND", help=f"What the rows are: {one_of(Kind)}.", show_choices=False)
    ] = Kind.customers,
    preset: Annotated[
        str | None,
        typer.Option(
            help=f"A bundled layout: {', '.join(PRESETS)} (customer-sync presets show NAME). "
            "Detected when omitted."
        ),
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="A TOML mapping file for any other layout.")] = None,
    source_name: Annotated[
        str | None, typer.Option(help="Name of the source, e.g. shopify-eu (default: the preset's).")
    ] = None,
    enqueue_it: Annotated[
        bool,
        typer.Option(
            "--enqueue", help="Send it to the Celery worker (needs CELERY_BROKER_URL); print the run id."
        ),
    ] = False,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="Time zone of date-times written without one, e.g. Europe/Berlin (default: the layout's, else UTC)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a CSV export into the store and print the run summary (or, queued, the run id)."""
    settings = read_settings()
    if enqueue_it and str(path) == "-":
        fail("--enqueue needs a file the worker can read; standard input is read here only")
    if enqueue_it:
        _enqueue_csv(settings, path, kind.value, preset, mapping, source_name, timezone, as_json)
        return
    show_progress = not as_json and err.is_terminal
    progress = Progress(
        TextColumn("[bold]importing[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show_progress,
    )
    task = progress.add_task(progress_label(path), total=None)

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
                timezone=timezone,
                on_batch=on_batch,
            )
    except FatalSourceError as exc:
        fail_source(exc, as_json)
    except StreamBusy as exc:
        fail(str(exc))
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    except KeyboardInterrupt as exc:
        interrupted(exc, from_stdin=str(path) == "-")
    except Exception as exc:
        fail_unexpected(exc, as_json)
    report(summary, as_json)


def _enqueue_csv(
    settings: Settings,
    path: Path,
    kind: str,
    preset: str | None,
    mapping: Path | None,
    source_name: str | None,
    timezone: str | None,
    as_json: bool,
) -> None:
    require_broker(settings)
    try:
        # Recorded (queued) before it is sent, so its id can be printed and a bad file is
        # refused here, in one line, rather than failing later in the worker.
        run_id = queue_csv(
            settings,
            path,
            kind=kind,
            preset_name=preset,
            mapping=mapping,
            source_name=source_name,
            trigger="cli",
            timezone=timezone,
        )
    except FatalSourceError as exc:
        fail_source(exc, as_json)
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    except Exception as exc:
        fail_unexpected(exc, as_json)
    kwargs = {
        "path": str(path.resolve()),
        "kind": kind,
        "preset": preset,
        "mapping": str(mapping.resolve()) if mapping else None,
        "source_name": source_name,
        "run_id": run_id,
        "trigger": "cli",
        "timezone": timezone,
    }
    report_queued(run_id, enqueue(settings, "sync.csv.import", kwargs), as_json)
