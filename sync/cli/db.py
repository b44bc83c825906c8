"""`customer-sync db`: the store's schema."""

from __future__ import annotations

import sqlalchemy as sa
import typer

from models import upgrade
from sync.cli._common import fail, out, read_settings

app = typer.Typer(help="The store's schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the store's schema to the newest revision."""
    settings = read_settings()
    try:
        migration = upgrade(settings.database_url)
    except sa.exc.OperationalError as exc:
        fail(f"cannot reach the database: {exc.orig}")
    if migration.before == migration.after:
        out.print(f"already up to date at {migration.after}", highlight=False)
    else:
        # An operator upgrading before a release wants to see that something ran, and what.
        out.print(f"migrated from {migration.before or 'empty'} to {migration.after}", highlight=False)
