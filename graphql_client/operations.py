"""The documented operations, read from the `.graphql` files shipped with this package."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def document(name: str) -> str:
    """The text of `queries/<name>.graphql`, exactly as it is sent."""
    return files("graphql_client").joinpath("queries", f"{name}.graphql").read_text("utf-8")


OPERATIONS = (
    "sign_up",
    "obtain_token",
    "consumers",
    "consumer",
    "consumer_available_promotions",
    "purchase_history",
)
