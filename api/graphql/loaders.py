"""DataLoaders: one batched query per kind of nested data, however many customers are listed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from api.graphql.relay import PageArgs, select_page
from api.graphql.scope import Scope
from models import Customer, PointsLedger, Redemption

if TYPE_CHECKING:
    from api.graphql.context import RequestContext

_customer = Customer.__table__  # type: ignore[attr-defined]
_ledger = PointsLedger.__table__  # type: ignore[attr-defined]
_redemption = Redemption.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RedemptionPageKey:
    customer_pk: int
    kind: str | None
    page: PageArgs
    # Whether the query selects `count` (else it is not counted when the page does not need it).
    with_count: bool = True


@dataclass(frozen=True)
class RowPage:
    """The rows of one page, with the filtered total and the index of the first row."""

    rows: Sequence[sa.Row[Any]]
    count: int
    start: int


def points_earned(conn: sa.Connection, pks: Sequence[int]) -> dict[int, int]:
    """Lifetime points earned per customer: the sum of the ledger's positive entries.

    Spending (negative entries) lowers the balance, not what was earned; see
    `points_balance` for the spendable amount.
    """
    rows = conn.execute(
        sa.select(_ledger.c.customer_pk, sa.func.sum(_ledger.c.delta))
        .where(_ledger.c.customer_pk.in_(pks), _ledger.c.delta > 0)
        .group_by(_ledger.c.customer_pk)
    )
    return {int(pk): int(total) for pk, total in rows}


def customers_by_pk(
    conn: sa.Connection, pks: Sequence[int], scope: Scope | None = None
) -> dict[int, sa.Row[Any]]:
    """The customers with these pks; only those `scope` admits, if given (a login reads its own)."""
    where = [_customer.c.pk.in_(pks)]
    if scope is not None:
        where.append(scope.customers())
    rows = conn.execute(sa.select(_customer).where(*where))
    return {row.pk: row for row in rows}


def redemption_pages(
    conn: sa.Connection,
    scope: Scope,
    pks: Sequence[int],
    kind: str | None,
    page: PageArgs,
    with_count: bool = True,
) -> dict[int, RowPage]:
    """One page of redemptions for each customer, newest first, in two statements in all.

    One customer (`consumer(id)`) is read as a plain ordered page, counted only when asked:
    the numbered subquery that serves a list of customers costs milliseconds of Python to
    build, far more than PostgreSQL spends answering it.
    """
    where = [_redemption.c.customer_pk.in_(pks), scope.redemptions()]
    if kind is not None:
        where.append(_redemption.c.kind == kind)
    if len(pks) == 1:
        newest_first = (
            sa.select(_redemption)
            .where(*where)
            .order_by(_redemption.c.created_at.desc(), _redemption.c.pk.desc())
        )
        counted = sa.select(sa.func.count()).select_from(_redemption).where(*where)
        found, total, first = select_page(conn, newest_first, counted, page, with_count=with_count)
        return {pks[0]: RowPage(rows=found, count=total, start=first)}
    counts: dict[int, int] = dict.fromkeys(pks, 0)
    for pk, count in conn.execute(
        sa.select(_redemption.c.customer_pk, sa.func.count())
        .where(*where)
        .group_by(_redemption.c.customer_pk)
    ):
        counts[int(pk)] = int(count)
    windows = {pk: page.window(count) for pk, count in counts.items()}
    wanted = {pk: w for pk, w in windows.items() if w[1] > w[0]}
    rows_by_pk: dict[int, list[sa.Row[Any]]] = defaultdict(list)
    if wanted:
        # Number each customer's rows, then keep the page's slice of each in one pass.
        position = (
            sa.func.row_number()
            .over(
                partition_by=_redemption.c.customer_pk,
                order_by=(_redemption.c.created_at.desc(), _redemption.c.pk.desc()),
            )
            .label("position")
        )
        numbered = (
            sa.select(_redemption, position)
            .where(*where, _redemption.c.customer_pk.in_(list(wanted)))
            .subquery()
        )
        start = sa.case({pk: w[0] for pk, w in wanted.items()}, value=numbered.c.customer_pk)
        end = sa.case({pk: w[1] for pk, w in wanted.items()}, value=numbered.c.customer_pk)
        for row in conn.execute(
            sa.select(numbered)
            .where(numbered.c.position > start, numbered.c.position <= end)
            .order_by(numbered.c.customer_pk, numbered.c.position)
        ):
            rows_by_pk[row.customer_pk].append(row)
    return {pk: RowPage(rows=rows_by_pk.get(pk, []), count=counts[pk], start=windows[pk][0]) for pk in pks}


_Group = tuple[str | None, PageArgs, bool]


def _redemption_groups(
    conn: sa.Connection, scope: Scope, groups: dict[_Group, list[int]]
) -> dict[_Group, dict[int, RowPage]]:
    return {
        (kind, page, with_count): redemption_pages(conn, scope, sorted(set(pks)), kind, page, with_count)
        for (kind, page, with_count), pks in groups.items()
    }


class Loaders:
    """The request's DataLoaders; each batches every load of one tick into one query."""

    def __init__(self, context: RequestContext) -> None:
        self._context = context
        self.points_earned = DataLoader[int, int](self._load_points)
        self.visible_customer = DataLoader[int, "sa.Row[Any] | None"](self._load_visible_customers)
        self.redemptions = DataLoader[RedemptionPageKey, RowPage](self._load_redemptions)

    async def _load_points(self, pks: list[int]) -> list[int]:
        totals = await self._context.read(points_earned, pks)
        return [totals.get(pk, 0) for pk in pks]

    async def _load_visible_customers(self, pks: list[int]) -> list[sa.Row[Any] | None]:
        rows = await self._context.read(customers_by_pk, pks, await self._context.scope())
        return [rows.get(pk) for pk in pks]

    async def _load_redemptions(self, keys: list[RedemptionPageKey]) -> list[RowPage]:
        groups: dict[_Group, list[int]] = defaultdict(list)
        for key in keys:
            groups[(key.kind, key.page, key.with_count)].append(key.customer_pk)
        # Every group in one trip to a worker thread (a consumer's three connections are three groups).
        found = await self._context.read(_redemption_groups, await self._context.scope(), groups)
        pages = {
            RedemptionPageKey(pk, kind, page, with_count): result
            for (kind, page, with_count), by_pk in found.items()
            for pk, result in by_pk.items()
        }
        return [pages[key] for key in keys]
