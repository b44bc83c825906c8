"""`customer-sync customers`: look customers up in the store."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from sync.cli._common import JsonOption, fail, open_store, out, print_json
from sync.cli._display import shown
from sync.load import find_customer

app = typer.Typer(help="Look customers up in the store.", no_args_is_help=True)


@app.command("get")
def customers_get(
    email: Annotated[str | None, typer.Option(help="Find by e-mail (case-blind).")] = None,
    loyalty_id: Annotated[str | None, typer.Option(help="Find by loyalty id.")] = None,
    pk: Annotated[int | None, typer.Option(min=1, max=2**63 - 1, help="Find by integer key.")] = None,
    as_json: JsonOption = False,
) -> None:
    """One customer, with the documented field names."""
    if sum(x is not None for x in (email, loyalty_id, pk)) != 1:
        fail("give exactly one of --email, --loyalty-id, --pk")
    customer = find_customer(open_store(), email=email, loyalty_id=loyalty_id, pk=pk)
    if customer is None:
        fail("no such customer", code=1)
        return
    if as_json:
        print_json(customer)
        return
    table = Table(show_header=False)
    for key, value in customer.items():
        # Names and addresses are what a source sent: shown, never obeyed by the terminal.
        table.add_row(
            key, shown("" if value is None else json.dumps(value) if isinstance(value, dict) else value)
        )
    out.print(table)
