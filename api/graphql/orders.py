"""Reading orders: the purchase history with its store, consumer and date filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from api.graphql.relay import PageArgs, PageStatements, select_bound_page
from api.graphql.scope import Scope
from models import Order, OrderType, Store

_order = Order.__table__  # type: ignore[attr-defined]
_order_type = OrderType.__table__  # type: ignore[attr-defined]
_store = Store.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OrderFilter:
    consumer_pk: int | None = None
    store_pk: int | None = None
    completed_at_gte: datetime | None = None
    completed_at_lte: datetime | None = None

    @property
    def shape(self) -> tuple[bool, bool, bool, bool]:
        """Which filters are given: the conditions' shape, whatever their values."""
        return (
            self.consumer_pk is not None,
            self.store_pk is not None,
            self.completed_at_gte is not None,
            self.completed_at_lte is not None,
        )

    @property
    def params(self) -> dict[str, Any]:
        """The values of the given filters, by their names in `_conditions`."""
        values = {
            "consumer_pk": self.consumer_pk,
            "store_pk": self.store_pk,
            "completed_at_gte": self.completed_at_gte,
            "completed_at_lte": self.completed_at_lte,
        }
        return {name: value for name, value in values.items() if value is not None}


def _conditions(scope: Scope, shape: tuple[bool, bool, bool, bool]) -> list[sa.ColumnElement[bool]]:
    """The conditions of a filter of this shape (`OrderFilter.shape`), its values bound by name."""
    consumer, store, gte, lte = shape
    # Another consumer's (or another store's) orders simply find nothing.
    where: list[sa.ColumnElement[bool]] = [scope.orders()]
    if consumer:
        where.append(_order.c.customer_pk == sa.bindparam("consumer_pk", type_=_order.c.customer_pk.type))
    if store:
        where.append(_order.c.store_pk == sa.bindparam("store_pk", type_=_order.c.store_pk.type))
    if gte:
        where.append(
            _order.c.completed_at >= sa.bindparam("completed_at_gte", type_=_order.c.completed_at.type)
        )
    if lte:
        where.append(
            _order.c.completed_at <= sa.bindparam("completed_at_lte", type_=_order.c.completed_at.type)
        )
    return where


@lru_cache(maxsize=512)
def _order_page_statements(scope: Scope, shape: tuple[bool, bool, bool, bool]) -> PageStatements:
    """The page and count statements of `list_orders` for this viewer and filter shape.

    Built once per (viewer, shape) instead of per request (their building and cache keys were
    ~0.3 ms of a request's ~5 ms of Python); the viewer is in the key because `scope`'s
    conditions hold its pk as a value.
    """
    where = _conditions(scope, shape)
    rows = (
        sa.select(
            _order,
            _order_type.c.name.label("order_type_name"),
            _store.c.name.label("store_name"),
        )
        .select_from(
            _order.outerjoin(_order_type, _order_type.c.pk == _order.c.order_type_pk).outerjoin(
                _store, _store.c.pk == _order.c.store_pk
            )
        )
        .where(*where)
        .order_by(_order.c.completed_at.desc().nulls_last(), _order.c.pk.desc())
    )
    count = sa.select(sa.func.count()).select_from(_order).where(*where)
    return PageStatements.of(rows, count)


def list_orders(
    conn: sa.Connection, scope: Scope, filters: OrderFilter, page: PageArgs, with_count: bool = True
) -> tuple[list[sa.Row[Any]], int, int]:
    """`(rows, count, start)` of one page of orders, newest first, with type and store names.

    Without `with_count` the total is not counted when the page does not need it (see `select_page`).
    """
    return select_bound_page(
        conn, _order_page_statements(scope, filters.shape), filters.params, page, with_count=with_count
    )
