"""`customer-sync users`: logins; the API is imported only when a command runs."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sync.cli._common import fail, open_store, out
from sync.cli._display import shown

app = typer.Typer(help="Logins: create the first admin.", no_args_is_help=True)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's e-mail (their login).")],
    promote_existing: Annotated[
        bool,
        typer.Option("--promote-existing", help="Make the customer who already has this e-mail the admin."),
    ] = False,
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
    engine = open_store()
    try:
        with session_scope(engine) as session:
            created = create(session, email, password, promote_existing=promote_existing)
    except AdminCreationError as exc:
        fail(str(exc))
    if created.promoted:
        out.print(shown(f"promoted {created.who} to admin"), soft_wrap=True)
    else:
        out.print(shown(f"admin {email} created ({created.who})"), soft_wrap=True)
