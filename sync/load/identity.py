"""Who imported data may join: never a sign-up whose mailbox is unproven; merging once it is."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from models import Customer, CustomerLogin, CustomerSource, Order, PointsLedger, Redemption, utcnow
from sync.load.golden import recompute_customers
from sync.load.sets import one_of

_customer: sa.Table = Customer.__table__  # type: ignore[attr-defined]
_login: sa.Table = CustomerLogin.__table__  # type: ignore[attr-defined]
_source: sa.Table = CustomerSource.__table__  # type: ignore[attr-defined]
# Rows that belong to a customer and move with its imported data when it is merged.
_OWNED: tuple[sa.Table, ...] = (
    CustomerSource.__table__,  # type: ignore[attr-defined]
    Order.__table__,  # type: ignore[attr-defined]
    Redemption.__table__,  # type: ignore[attr-defined]
    PointsLedger.__table__,  # type: ignore[attr-defined]
)


def unverified_sign_up() -> sa.ColumnElement[bool]:
    """SQL on `customer`: it has a login made by sign-up whose mailbox is not proven yet.

    Anyone can sign up with any address; until the owner clicks the mailed link, data a sync
    imports for that address belongs to somebody else. (A claim of a synced customer,
    `verification_required`, is the reverse order and already waits for verification.)
    """
    return sa.exists().where(
        _login.c.customer_pk == _customer.c.pk,
        _login.c.email_verified.is_(False),
        _login.c.verification_required.is_(False),
    )


def _stand_ins(conn: sa.Connection, emails: Collection[str]) -> dict[str, int]:
    """E-mail -> the customer without a login whose live source rows carry it (the import's own)."""
    if not emails:
        return {}
    email = _source.c.payload["email"].as_string()
    rows = conn.execute(
        sa.select(email, sa.func.min(_source.c.customer_pk))
        .where(one_of(conn, email, emails), _source.c.deleted.is_(False))
        .where(~sa.exists().where(_login.c.customer_pk == _source.c.customer_pk))
        .group_by(email)
    ).all()
    return {str(e): int(pk) for e, pk in rows}


def customers_for_emails(conn: sa.Connection, emails: Collection[str]) -> tuple[dict[str, int], set[str]]:
    """`(e-mail -> customer pk imported data joins, e-mails held by an unverified sign-up)`.

    An e-mail held by an unverified sign-up maps to the customer an earlier import created for
    it, if any; otherwise it is absent, and the caller creates (or refuses) one of its own.
    """
    if not emails:
        return {}, set()
    found: dict[str, int] = {}
    held: set[str] = set()
    for email, pk, unverified in conn.execute(
        sa.select(_customer.c.email, _customer.c.pk, unverified_sign_up()).where(
            one_of(conn, _customer.c.email, emails)
        )
    ):
        if unverified:
            held.add(email)
        else:
            found[email] = int(pk)
    found.update(_stand_ins(conn, held))
    return found, held


def merge_stand_ins(conn: sa.Connection, customer_pk: int, email: str) -> list[int]:
    """After `customer_pk` proved the mailbox of `email`: take over what imports made for it.

    The stand-ins' source rows, orders, redemptions and points move to the customer, whose
    golden record is then recomputed from all its sources (a person's own input wins by
    priority); the emptied stand-ins end inactive. Returns their pks.
    """
    # More than one import may have made one (different sources, different batches).
    stand_ins = sorted(
        set(
            conn.execute(
                sa.select(_source.c.customer_pk)
                .where(_source.c.payload["email"].as_string() == email)
                .where(_source.c.customer_pk != customer_pk)
                .where(~sa.exists().where(_login.c.customer_pk == _source.c.customer_pk))
            ).scalars()
        )
    )
    if not stand_ins:
        return []
    for table in _OWNED:
        conn.execute(table.update().where(table.c.customer_pk.in_(stand_ins)).values(customer_pk=customer_pk))
    recompute_customers(conn, [customer_pk, *stand_ins])
    now = utcnow()
    conn.execute(
        _customer.update()
        .where(_customer.c.pk.in_(stand_ins))
        .values(active=False, deleted_at=now, updated_at=now)
    )
    return stand_ins
