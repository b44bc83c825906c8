"""`customer-sync import`: import records from files (CSV exports)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from connectors import FatalSourceError
from connectors.csv import CsvStream
from models import SchemaOutOfDateError
from sync.cli._common import JsonOption, err, fail, read_settings, report
from sync.jobs import import_csv
from sync.mapping import PRESETS
from sync.pipeline import StreamBusy

app = typer.Typer(help="Import records from files.", no_args_is_help=True)


class Kind(StrEnum):
    customers = "customers"
    orders = "orders"
    promotions = "promotions"
    redemptions = "redemptions"


@app.command("csv")
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
    settings = read_settings()
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
    except (FatalSourceError, StreamBusy) as exc:
        fail(str(exc))
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    report(summary, as_json)
