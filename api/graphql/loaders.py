"""DataLoaders: one batched query per kind of nested data, however many customers are listed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from api.graphql.relay import PageArgs, head_window, page_of_head, select_page
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


def _one_of(column: sa.ColumnElement[int], pks: Sequence[int]) -> sa.ColumnElement[bool]:
    # One customer (`consumer(id)`) is `= pk`: an IN list is expanded while the statement is
    # compiled for every execution, which is Python a single value does not need.
    return column == pks[0] if len(pks) == 1 else column.in_(pks)


def points_earned(conn: sa.Connection, pks: Sequence[int]) -> dict[int, int]:
    """Lifetime points earned per customer: the sum of the ledger's positive entries.

    Spending (negative entries) lowers the balance, not what was earned; see
    `points_balance` for the spendable amount.
    """
    rows = conn.execute(
        sa.select(_ledger.c.customer_pk, sa.func.sum(_ledger.c.delta))
        .where(_one_of(_ledger.c.customer_pk, pks), _ledger.c.delta > 0)
        .group_by(_ledger.c.customer_pk)
    )
    return {int(pk): int(total) for pk, total in rows}


def points_earned_column() -> sa.Label[int]:
    """`points_earned` of each `customer` row of a statement, as `points_earned` counts them.

    A correlated subquery (`ix_points_ledger_customer`), evaluated for the rows returned only:
    a page of customers gets its points in its own statement instead of a second trip.
    """
    earned = (
        sa.select(sa.func.coalesce(sa.func.sum(_ledger.c.delta), 0))
        .where(_ledger.c.customer_pk == _customer.c.pk, _ledger.c.delta > 0)
        .scalar_subquery()
    )
    return earned.label("points_earned")


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
    where = [_one_of(_redemption.c.customer_pk, pks), scope.redemptions()]
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
_NEWEST_FIRST = (_redemption.c.created_at.desc(), _redemption.c.pk.desc())


_Head = tuple[str | None, int, int]  # (kind, start, rows to read) of one folded page


@lru_cache(maxsize=512)
def _heads_statements(scope: Scope, heads: tuple[_Head, ...], fold: bool) -> tuple[sa.Executable, ...]:
    """The statements of `_heads` for pages of this shape and viewer, the customers' pks bound at
    execution (`pk0`, `pk1`, ...): one `UNION ALL` when `fold`, else one statement per page.

    Built once per (viewer, shape), not per request: building and keying these statements was a
    fifth of `consumer(id)`'s CPU, against PostgreSQL's 0.06 ms for the three pages. The viewer
    is part of the key because `scope`'s conditions hold its pk as a value.
    """

    def one(part: int, kind: str | None, start: int, size: int) -> sa.Select[Any]:
        where = [_redemption.c.customer_pk == sa.bindparam(f"pk{part}", type_=_redemption.c.customer_pk.type)]
        where.append(scope.redemptions())
        if kind is not None:
            where.append(_redemption.c.kind == kind)
        return (
            sa.select(_redemption, sa.literal(part).label("part"))
            .where(*where)
            .order_by(*_NEWEST_FIRST)
            .offset(start)
            .limit(size)
        )

    members = [one(part, *head) for part, head in enumerate(heads)]
    if not fold:
        return tuple(members)
    # Pages are told apart by `part`; the outer ORDER BY keeps each page's own order.
    return (
        sa.union_all(*members).order_by(
            sa.literal_column("part"), sa.literal_column("created_at").desc(), sa.literal_column("pk").desc()
        ),
    )


def _heads(
    conn: sa.Connection, scope: Scope, wanted: Sequence[tuple[int, str | None, int, int]]
) -> list[list[sa.Row[Any]]]:
    """For each `(customer pk, kind, start, end)`: the `end - start + 1` rows at `start`, newest first.

    On PostgreSQL one statement (`UNION ALL` of the pages, each its own index scan), so a
    consumer's three connections are one round trip; elsewhere one statement each (SQLite does
    not take a page with ORDER BY/LIMIT inside a compound select).
    """
    pages: list[list[sa.Row[Any]]] = [[] for _ in wanted]
    if not wanted:
        return pages
    heads = tuple((kind, start, end - start + 1) for _pk, kind, start, end in wanted)
    params = {f"pk{part}": pk for part, (pk, *_rest) in enumerate(wanted)}
    fold = len(wanted) > 1 and conn.dialect.name == "postgresql"
    statements = _heads_statements(scope, heads, fold)
    if fold:
        for row in conn.execute(statements[0], params):
            pages[row.part].append(row)
        return pages
    return [
        list(conn.execute(member, {f"pk{part}": params[f"pk{part}"]}).all())
        for part, member in enumerate(statements)
    ]


def redemption_page_set(
    conn: sa.Connection, scope: Scope, keys: Sequence[RedemptionPageKey]
) -> dict[RedemptionPageKey, RowPage]:
    """The page of every key, in as few statements as the keys allow.

    A page of one customer read from its start without its count (`relay.head_window`: what a
    consumer's connections ask for unless they select `count` or `last`) is folded with the
    others like it into one statement; the rest go by (kind, page) group through
    `redemption_pages`, a list of customers in two statements per group.
    """
    found: dict[RedemptionPageKey, RowPage] = {}
    heads: list[tuple[RedemptionPageKey, int, int]] = []
    groups: dict[_Group, list[int]] = defaultdict(list)
    pks_per_group: dict[_Group, set[int]] = defaultdict(set)
    for key in keys:
        pks_per_group[(key.kind, key.page, key.with_count)].add(key.customer_pk)
    for key in dict.fromkeys(keys):
        group = (key.kind, key.page, key.with_count)
        window = head_window(key.page, key.with_count)
        if window is not None and len(pks_per_group[group]) == 1:
            heads.append((key, *window))
        else:
            groups[group].append(key.customer_pk)
    read = _heads(conn, scope, [(key.customer_pk, key.kind, start, end) for key, start, end in heads])
    for (key, start, end), rows in zip(heads, read, strict=True):
        page = page_of_head(rows, start, end)
        if page is None:  # past the last row: only a count can place it
            groups[(key.kind, key.page, key.with_count)].append(key.customer_pk)
        else:
            found[key] = RowPage(rows=page[0], count=page[1], start=page[2])
    for (kind, page_args, with_count), pks in groups.items():
        by_pk = redemption_pages(conn, scope, sorted(set(pks)), kind, page_args, with_count)
        for pk, result in by_pk.items():
            found[RedemptionPageKey(pk, kind, page_args, with_count)] = result
    return found


class Loaders:
    """The request's DataLoaders; each batches every load of one tick into one query.

    Each is made when first used: most requests use one or none of them (a DataLoader and its
    cache are a few microseconds each, per request).
    """

    def __init__(self, context: RequestContext) -> None:
        self._context = context

    @cached_property
    def points_earned(self) -> DataLoader[int, int]:
        return DataLoader[int, int](self._load_points)

    @cached_property
    def visible_customer(self) -> DataLoader[int, sa.Row[Any] | None]:
        return DataLoader[int, "sa.Row[Any] | None"](self._load_visible_customers)

    @cached_property
    def redemptions(self) -> DataLoader[RedemptionPageKey, RowPage]:
        return DataLoader[RedemptionPageKey, RowPage](self._load_redemptions)

    async def _load_points(self, pks: list[int]) -> list[int]:
        totals = await self._context.read(points_earned, pks)
        return [totals.get(pk, 0) for pk in pks]

    async def _load_visible_customers(self, pks: list[int]) -> list[sa.Row[Any] | None]:
        rows = await self._context.read(customers_by_pk, pks, await self._context.scope())
        return [rows.get(pk) for pk in pks]

    async def _load_redemptions(self, keys: list[RedemptionPageKey]) -> list[RowPage]:
        # Every page in one trip to a worker thread (a consumer's three connections: one statement).
        found = await self._context.read(redemption_page_set, await self._context.scope(), keys)
        return [found[key] for key in keys]
