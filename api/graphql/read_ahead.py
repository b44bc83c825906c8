"""Reading ahead: what one customer's nested fields will ask the loaders for, read in its own trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from graphql import GraphQLError
from strawberry.types.nodes import SelectedField, Selection

from api.graphql.customers import get_consumer
from api.graphql.loaders import RedemptionPageKey, RowPage, redemption_page_set
from api.graphql.relay import PageArgs, fields_named
from api.graphql.scope import Scope

# IUserNode's redemption connections (api.graphql.types) and the kind each one lists.
REDEMPTION_CONNECTIONS: dict[str, str | None] = {
    "redemptions": None,
    "stampsRedemptions": "STAMPS",
    "pointsRedemptions": "POINTS",
}


# strawberry hands over a literal argument as its source text (`first: 2` is "2", `if: true` is
# "true") and a variable as its coerced value; GraphQL validation has already checked both.


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _true(value: Any) -> bool:
    return value is True or value == "true"


def _skipped(field: SelectedField) -> bool:
    directives: dict[str, Any] = field.directives or {}
    return ("skip" in directives and _true(directives["skip"].get("if"))) or (
        "include" in directives and not _true(directives["include"].get("if"))
    )


def redemption_keys(customer_fields: Sequence[Selection], customer_pk: int) -> list[RedemptionPageKey]:
    """The loader keys the customer's connection fields will load (as `types._redemption_connection`).

    A connection whose arguments are invalid is left out: its own resolver reports the error. A
    key that differs from the resolver's is only a page read in vain (the loader reads its own).
    """
    keys: list[RedemptionPageKey] = []
    for customer in customer_fields:
        for name, kind in REDEMPTION_CONNECTIONS.items():
            for field in fields_named(customer.selections, name):
                if _skipped(field):
                    continue
                a = field.arguments
                try:
                    page = PageArgs.parse(
                        _int(a.get("first")),
                        _int(a.get("last")),
                        a.get("before"),
                        a.get("after"),
                        _int(a.get("offset")),
                    )
                except GraphQLError:
                    continue
                keys.append(
                    RedemptionPageKey(customer_pk, kind, page, bool(fields_named(field.selections, "count")))
                )
    return keys


def consumer_with_nested(
    conn: sa.Connection, scope: Scope, pk: int, with_points: bool, keys: Sequence[RedemptionPageKey]
) -> tuple[sa.Row[Any] | None, dict[RedemptionPageKey, RowPage]]:
    """The customer (with `points_earned` if asked) and, if this viewer may see it, the pages of `keys`."""
    row = get_consumer(conn, scope, pk, with_points)
    if row is None or not keys:
        return row, {}
    return row, redemption_page_set(conn, scope, keys)
