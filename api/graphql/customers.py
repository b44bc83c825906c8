"""Reading customers: the `consumers` filters and the lookups by id, e-mail, phone, loyalty id."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from api.graphql.loaders import points_earned_column
from api.graphql.relay import PageArgs, PageStatements, select_bound_page
from api.graphql.scope import Scope
from models import Customer
from sync.mapping import FieldError, normalize_email, normalize_phone

_customer = Customer.__table__  # type: ignore[attr-defined]


def blank_to_none(value: str | None) -> str | None:
    """Filters treat null, "" and white space alike: no filter."""
    if value is None or not value.strip():
        return None
    return value.strip()


# How a `consumers` filter reads: (loyalty id given, phone: 0 none / 1 matches nobody / 2 a
# pattern, e-mail given). Its statements are built once per shape; the values are bound.
_Shape = tuple[bool, int, bool]


@dataclass(frozen=True)
class ConsumerFilter:
    loyalty_id: str | None = None
    phone_number_icontains: str | None = None
    email_icontains: str | None = None
    # Reads a national phone number typed into the filter (Settings.default_phone_region).
    phone_region: str = "US"

    def bound(self) -> tuple[_Shape, dict[str, Any]]:
        """The filter's shape (see `_conditions`) and the values of its bound parameters."""
        params: dict[str, Any] = {}
        if self.loyalty_id:
            params["loyalty_id"] = self.loyalty_id
        phone = 0
        if self.phone_number_icontains:
            pattern = phone_pattern(self.phone_number_icontains, self.phone_region)
            phone = 1 if pattern is None else 2
            if pattern is not None:
                params["phone_pattern"] = pattern
        if self.email_icontains:
            params["email_term"] = _like_escaped(self.email_icontains)
        return (bool(self.loyalty_id), phone, bool(self.email_icontains)), params


def _like_escaped(term: str) -> str:
    """`term` with `/`, `%` and `_` escaped by `/`: what `icontains(term, autoescape=True)` binds."""
    return term.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _conditions(scope: Scope, shape: _Shape) -> list[sa.ColumnElement[bool]]:
    """The conditions of a `ConsumerFilter` of this shape, its values bound by name (`bound`)."""
    loyalty, phone, email = shape
    # The scope first: no filter can widen what the viewer may see.
    where: list[sa.ColumnElement[bool]] = [scope.customers()]
    if loyalty:
        where.append(_customer.c.loyalty_id == sa.bindparam("loyalty_id", type_=_customer.c.loyalty_id.type))
    if phone == 1:
        # Stored phones are "+" and digits only: a term without a digit matches nobody.
        where.append(sa.false())
    elif phone == 2:
        pattern = sa.bindparam("phone_pattern", type_=_customer.c.phone_number.type)
        where.append(_icontains_pattern(_customer.c.phone_number, pattern))
    if email:
        # `%` and `_` typed into a filter are matched literally, not as wildcards (`_like_escaped`,
        # as `icontains(..., autoescape=True)` escapes them).
        term = sa.bindparam("email_term", type_=_customer.c.email.type)
        where.append(
            _icontains_pattern(_customer.c.email, sa.literal("%") + term + sa.literal("%"), escape="/")
        )
    return where


def _icontains_pattern(
    column: sa.ColumnElement[str], pattern: sa.ColumnElement[str], escape: str | None = None
) -> sa.ColumnElement[bool]:
    """`column ILIKE pattern`, written as `lower(column) LIKE lower(pattern)`: what ILIKE compares
    in a UTF-8 database, and what the trigram indexes on `lower(column)` serve (migration 0013).
    """
    return sa.func.lower(column).like(sa.func.lower(pattern), escape=escape)


def phone_pattern(term: str, default_region: str) -> str | None:
    """The ILIKE pattern of customers whose phone contains what was typed, however it was typed
    (None: it has no digit, and matches nobody).

    Phones are stored in E.164 (`+49301234567`), people type `+49 30 1234567`, `030 1234567`
    or `(212) 555-0002`: the term is reduced to digits and matched on the stored column as a
    case-insensitive LIKE, so the pg_trgm index on `lower(phone_number)` still serves it.
    """
    international = term.lstrip().startswith(("+", "00"))
    try:
        digits = normalize_phone(term, default_region).removeprefix("+")
        international = False  # a whole number: found wherever it sits, as before
    except FieldError:
        # Part of a number: its digits, less the national trunk 0 E.164 leaves out.
        digits = "".join(ch for ch in term if ch in "0123456789")  # ASCII: isdigit() takes "²" too
        if term.lstrip().startswith("00"):
            digits = digits[2:]
        elif not international:
            digits = digits.removeprefix("0")
    if not digits:
        return None
    if international:
        # `+49 30` names the country code: it must start the number, not sit anywhere in it.
        return f"+{digits}%"
    return f"%{digits}%"


def _customer_columns(with_points: bool) -> list[Any]:
    return [_customer, points_earned_column()] if with_points else [_customer]


@lru_cache(maxsize=512)
def _consumer_page_statements(scope: Scope, shape: _Shape, with_points: bool) -> PageStatements:
    """The page and count statements of `list_consumers` for this viewer and filter shape.

    Built once per (viewer, shape) instead of per request, like `orders._order_page_statements`;
    the viewer is in the key because `scope`'s conditions hold its pk as a value.
    """
    where = _conditions(scope, shape)
    return PageStatements.of(
        sa.select(*_customer_columns(with_points)).where(*where).order_by(_customer.c.pk),
        sa.select(sa.func.count()).select_from(_customer).where(*where),
    )


def list_consumers(
    conn: sa.Connection,
    scope: Scope,
    filters: ConsumerFilter,
    page: PageArgs,
    with_count: bool = True,
    with_points: bool = False,
) -> tuple[list[sa.Row[Any]], int, int]:
    """`(rows, count, start)` of one page of the customers this viewer may see, by pk.

    Without `with_count` the total is not counted when the page does not need it (see
    `select_page`); `with_points` adds each row's `points_earned` (see `points_earned_column`).
    """
    shape, params = filters.bound()
    statements = _consumer_page_statements(scope, shape, with_points)
    return select_bound_page(conn, statements, params, page, with_count=with_count)


def get_consumer(conn: sa.Connection, scope: Scope, pk: int, with_points: bool = False) -> sa.Row[Any] | None:
    """The customer, or None when it does not exist or this viewer may not see it (alike).

    `with_points` adds its `points_earned` (see `points_earned_column`).
    """
    return conn.execute(_consumer_statement(scope, with_points), {"consumer_pk": pk}).first()


@lru_cache(maxsize=512)
def _consumer_statement(scope: Scope, with_points: bool) -> sa.Select[Any]:
    """`get_consumer`'s statement for this viewer, the customer's pk bound at execution.

    Built once per viewer (its pk is a value in `scope`'s conditions): building and keying it
    per request cost more Python than PostgreSQL spends answering it (0.05 ms).
    """
    return sa.select(*_customer_columns(with_points)).where(
        _customer.c.pk == sa.bindparam("consumer_pk", type_=_customer.c.pk.type), scope.customers()
    )


def find_customer_pk(
    conn: sa.Connection,
    loyalty_id: str | None,
    email: str | None,
    phone: str | None,
    default_region: str,
) -> int | None:
    """The one customer every given identifier points at, or None."""
    where: list[sa.ColumnElement[bool]] = []
    if loyalty_id:
        where.append(_customer.c.loyalty_id == loyalty_id)
    try:
        if email:
            where.append(_customer.c.email == normalize_email(email))
        if phone:
            where.append(_customer.c.phone_number == normalize_phone(phone, default_region))
    except FieldError:
        return None
    if not where:
        return None
    pks = conn.execute(sa.select(_customer.c.pk).where(*where).limit(2)).scalars().all()
    # Phone numbers are not unique: an ambiguous lookup finds nobody rather than a stranger.
    return int(pks[0]) if len(pks) == 1 else None
