"""`customer-sync merchants` and `customer-sync stores`: what an operator decides about merchants."""

from __future__ import annotations

from typing import Annotated

import typer

from sync.cli._common import fail, open_store, out
from sync.cli._display import shown
from sync.jobs.merchants import MerchantError, approve_merchant, assign_store

app = typer.Typer(help="Merchants: approve a self-registered one.", no_args_is_help=True)
stores_app = typer.Typer(help="Stores: give a store to its merchant.", no_args_is_help=True)


@app.command("approve")
def approve(email: Annotated[str, typer.Argument(help="The merchant's e-mail (its login).")]) -> None:
    """Approve a merchant: it then sees the customers of the stores assigned to it."""
    try:
        merchant = approve_merchant(open_store(), email)
    except MerchantError as exc:
        fail(str(exc))
    state = "was already approved" if merchant.approved else "approved"
    out.print(shown(f"merchant {merchant.email} (customer {merchant.pk}) {state}"))


@stores_app.command("assign")
def assign(
    store: Annotated[str, typer.Argument(help="The store's name, as imports name it.")],
    merchant: Annotated[str, typer.Option("--merchant", help="The approved merchant's e-mail.")],
) -> None:
    """Give a store to an approved merchant (its customers, orders and promotions become visible)."""
    try:
        owner, previous = assign_store(open_store(), store, merchant)
    except MerchantError as exc:
        fail(str(exc))
    note = f" (it was customer {previous}'s)" if previous is not None else ""
    out.print(shown(f"store {store!r} now belongs to {owner.email}{note}"))
