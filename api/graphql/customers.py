"""Reading customers: the `consumers` filters and the lookups by id, e-mail, phone, loyalty id."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from api.graphql.loaders import points_earned_column
from api.graphql.relay import PageArgs, select_page
from api.graphql.scope import Scope
from models import Customer
from sync.mapping import FieldError, normalize_email, normalize_phone

_customer = Customer.__table__  # type: ignore[attr-defined]


def blank_to_none(value: str | None) -> str | None:
    """Filters treat null, "" and white space alike: no filter."""
    if value is None or not value.strip():
        return None
    return value.strip()


@dataclass(frozen=True)
class ConsumerFilter:
    loyalty_id: str | None = None
    phone_number_icontains: str | None = None
    email_icontains: str | None = None
    # Reads a national phone number typed into the filter (Settings.default_phone_region).
    phone_region: str = "US"

    def conditions(self, scope: Scope) -> list[sa.ColumnElement[bool]]:
        # The scope first: no filter can widen what the viewer may see.
        where: list[sa.ColumnElement[bool]] = [scope.customers()]
        if self.loyalty_id:
            where.append(_customer.c.loyalty_id == self.loyalty_id)
        # autoescape: `%` and `_` typed into a filter are matched literally, not as wildcards.
        if self.phone_number_icontains:
            where.append(phone_contains(self.phone_number_icontains, self.phone_region))
        if self.email_icontains:
            where.append(_customer.c.email.icontains(self.email_icontains, autoescape=True))
        return where


def phone_contains(term: str, default_region: str) -> sa.ColumnElement[bool]:
    """Customers whose phone contains what was typed, however it was typed.

    Phones are stored in E.164 (`+49301234567`), people type `+49 30 1234567`, `030 1234567`
    or `(212) 555-0002`: the term is reduced to digits and matched on the stored column with
    ILIKE, so the pg_trgm index on phone_number still serves it.
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
    phone: sa.ColumnElement[str] = _customer.c.phone_number
    if not digits:
        # Stored phones are "+" and digits only: a term without a digit matches nobody.
        return sa.false()
    if international:
        # `+49 30` names the country code: it must start the number, not sit anywhere in it.
        return phone.ilike(f"+{digits}%")
    return phone.ilike(f"%{digits}%")


def _customer_columns(with_points: bool) -> list[Any]:
    return [_customer, points_earned_column()] if with_points else [_customer]


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
    where = filters.conditions(scope)
    return select_page(
        conn,
        sa.select(*_customer_columns(with_points)).where(*where).order_by(_customer.c.pk),
        sa.select(sa.func.count()).select_from(_customer).where(*where),
        page,
        with_count=with_count,
    )


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
