"""`customer-sync presets`: the bundled CSV layouts and where each of their columns goes."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from connectors import FatalSourceError
from sync.cli._common import JsonOption, Kind, fail, one_of, out, print_json
from sync.mapping import PRESETS, describe_layout, preset

app = typer.Typer(help="The bundled CSV layouts (presets) and where their columns go.", no_args_is_help=True)


def _columns(columns: list[str]) -> str:
    return ", ".join(columns) if columns else "-"


@app.command("list")
def presets_list(as_json: JsonOption = False) -> None:
    """Every preset: the export it reads, its source, and the columns that key and stamp its rows."""
    layouts = [describe_layout(preset(name)) for name in PRESETS]
    if as_json:
        print_json(layouts)
        return
    # A name is what the next command is typed with: never cut, whatever the terminal's width.
    # The other columns wrap, long words folded rather than cut off with an ellipsis.
    widest = max(len(layout["name"]) for layout in layouts)
    table = Table(title="presets")
    table.add_column("preset", no_wrap=True, min_width=widest)
    for heading in ("file", "headers", "source id", "stamp"):
        table.add_column(heading, overflow="fold")
    for layout in layouts:
        source_id = _columns(layout["id"]) if layout["id"] else "derived from e-mail/phone"
        table.add_row(
            layout["name"], escape(layout["description"]), escape(", ".join(layout["detect"])), escape(source_id),
            escape(_columns(layout["modstamp"])),
        )  # fmt: skip
    out.print(table)
    out.print("see one preset's columns: customer-sync presets show NAME")


@app.command("show")
def presets_show(
    name: Annotated[str, typer.Argument(help=f"The preset: {', '.join(PRESETS)}.")],
    kind: Annotated[
        Kind,
        typer.Option(
            metavar="KIND",
            help=f"What the rows are: {one_of(Kind)} (only `native` reads other kinds).",
            show_choices=False,
        ),
    ] = Kind.customers,
    as_json: JsonOption = False,
) -> None:
    """One preset's column mapping: which header column feeds each field, and how it is recognised."""
    try:
        layout = describe_layout(preset(name, kind.value))
    except FatalSourceError as exc:
        fail(str(exc))
    if as_json:
        print_json(layout)
        return
    _print_layout(layout)


def _print_layout(layout: dict[str, Any]) -> None:
    out.print(f"[bold]{layout['name']}[/]: {escape(layout['description'])}", highlight=False)
    settings = [
        ("kind", layout["kind"]),
        ("source", f"{layout['source']} (entity source {layout['entity_source']})"),
        ("source id", _columns(layout["id"]) if layout["id"] else "derived from e-mail, else phone"),
        ("stamp", _columns(layout["modstamp"])),
        ("deleted flag", _columns(layout["deleted"])),
        ("dates", layout["date_order"] or "each column's values decide the day/month order"),
    ]
    if layout["id_format"]:
        settings.append(("id format", layout["id_format"]))
    if layout["multi_value_separator"]:
        settings.append(
            (
                "several values",
                f"joined by {layout['multi_value_separator']!r}: first kept, others in extraInfo",
            )
        )
    if layout["blank_values"]:
        settings.append(("read as empty", _columns(layout["blank_values"])))
    if layout["ignore"]:
        settings.append(("ignored", _columns(layout["ignore"])))
    for label, value in settings:
        out.print(f"{label}: {escape(value)}", highlight=False)
    fields = Table("field", "column(s), first non-empty wins", title="columns")
    for field, columns in layout["fields"].items():
        fields.add_row(field, escape(_columns(columns)))
    out.print(fields)
    out.print("every other column is kept in extraInfo under its own header", highlight=False)
    for variant, columns in layout["detect"].items():
        out.print(
            f"recognised by its {escape(variant)} header ({len(columns)} columns): {escape(_columns(columns))}",
            highlight=False,
            soft_wrap=True,
        )
