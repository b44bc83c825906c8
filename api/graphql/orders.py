"""Reading orders: the purchase history with its store, consumer and date filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from api.graphql.relay import PageArgs, select_page
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

    def conditions(self, scope: Scope) -> list[sa.ColumnElement[bool]]:
        # Another consumer's (or another store's) orders simply find nothing.
        where: list[sa.ColumnElement[bool]] = [scope.orders()]
        if self.consumer_pk is not None:
            where.append(_order.c.customer_pk == self.consumer_pk)
        if self.store_pk is not None:
            where.append(_order.c.store_pk == self.store_pk)
        if self.completed_at_gte is not None:
            where.append(_order.c.completed_at >= self.completed_at_gte)
        if self.completed_at_lte is not None:
            where.append(_order.c.completed_at <= self.completed_at_lte)
        return where


def list_orders(
    conn: sa.Connection, scope: Scope, filters: OrderFilter, page: PageArgs, with_count: bool = True
) -> tuple[list[sa.Row[Any]], int, int]:
    """`(rows, count, start)` of one page of orders, newest first, with type and store names.

    Without `with_count` the total is not counted when the page does not need it (see `select_page`).
    """
    where = filters.conditions(scope)
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
    return select_page(conn, rows, count, page, with_count=with_count)
