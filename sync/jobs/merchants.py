"""Operator actions on merchants: approve a self-registered one, give it a store."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models import Customer, Store, utcnow
from sync.mapping import FieldError, normalize_email

_customer = Customer.__table__  # type: ignore[attr-defined]
_store = Store.__table__  # type: ignore[attr-defined]


class MerchantError(ValueError):
    """An operator's request that cannot be carried out; the message says why and what to do."""


@dataclass(frozen=True)
class Merchant:
    pk: int
    email: str
    approved: bool


def _merchant(conn: sa.Connection, email: str) -> Merchant:
    try:
        address = normalize_email(email)
    except FieldError:
        raise MerchantError(f"not a valid e-mail address: {email!r}") from None
    row = conn.execute(
        sa.select(_customer.c.pk, _customer.c.user_type, _customer.c.merchant_approved_at).where(
            _customer.c.email == address
        )
    ).first()
    if row is None:
        raise MerchantError(f"no merchant {address} in the store")
    if row.user_type != "MERCHANT":
        raise MerchantError(f"{address} is not a merchant (it is a {row.user_type})")
    return Merchant(int(row.pk), address, row.merchant_approved_at is not None)


def approve_merchant(engine: Engine, email: str) -> Merchant:
    """Mark the merchant approved (idempotent); it then sees the customers of the stores it owns."""
    with engine.begin() as conn:
        merchant = _merchant(conn, email)
        if not merchant.approved:
            conn.execute(
                _customer.update()
                .where(_customer.c.pk == merchant.pk)
                .values(merchant_approved_at=utcnow(), updated_at=utcnow())
            )
    return merchant


def assign_store(engine: Engine, store_name: str, merchant_email: str) -> tuple[Merchant, int | None]:
    """Give the store to an approved merchant; `(merchant, pk of the merchant it had before)`."""
    with engine.begin() as conn:
        store = conn.execute(
            sa.select(_store.c.pk, _store.c.merchant_pk).where(_store.c.name == store_name).with_for_update()
        ).first()
        if store is None:
            raise MerchantError(f"no store {store_name!r}; stores are created by imports that name them")
        merchant = _merchant(conn, merchant_email)
        if not merchant.approved:
            raise MerchantError(
                f"{merchant.email} is not approved yet; run `customer-sync merchants approve "
                f"{merchant.email}` first"
            )
        conn.execute(_store.update().where(_store.c.pk == store.pk).values(merchant_pk=merchant.pk))
    previous = store.merchant_pk if store.merchant_pk != merchant.pk else None
    return merchant, previous
