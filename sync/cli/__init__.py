"""The `customer-sync` command line: one module per command group; `app` is the console script."""

from __future__ import annotations

import typer

from sync.cli import customers, db, imports, merchants, presets, runs, serve, spotify, sync, users
from sync.cli._common import read_settings

app = typer.Typer(
    help="Sync customers from Salesforce, Spotify and CSV exports into the loyalty platform's store.",
    no_args_is_help=True,
    # Help text is Markdown: a docstring's paragraph wraps at the terminal's width wherever the
    # source breaks its lines ("rich" mode keeps every line break after the first paragraph).
    rich_markup_mode="markdown",
    # A bug's traceback is plain Python's; rich's would print each frame's locals (rows, settings,
    # secrets), so they stay off even if pretty tracebacks are turned on again.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _check_settings(ctx: typer.Context) -> None:
    """Before any command: a mistaken setting is one line naming it, never a traceback."""
    # The rest of the command line (click keeps the subcommand's part in `_protected_args`):
    # `--help` must work even with a broken setting.
    rest = [*getattr(ctx, "_protected_args", ()), *ctx.args]
    if not {"--help", "-h"} & set(rest):
        read_settings()


app.add_typer(db.app, name="db")
app.add_typer(imports.app, name="import")
app.add_typer(presets.app, name="presets")
app.add_typer(runs.app, name="runs")
app.add_typer(customers.app, name="customers")
app.add_typer(users.app, name="users")
app.add_typer(sync.app, name="sync")
app.add_typer(spotify.app, name="spotify")
app.add_typer(merchants.app, name="merchants")
app.add_typer(merchants.stores_app, name="stores")
app.command("serve")(serve.serve)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point for `python -m sync`."""
    app()
