"""Builders for API tests: rows inserted straight into the store, and tokens for them."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.auth import hash_password, issue_session
from api.graphql import to_global_id
from models import (
    Customer,
    CustomerLogin,
    CustomerSource,
    Order,
    OrderType,
    PointsLedger,
    Promotion,
    Redemption,
    Store,
    utcnow,
)
from sync.settings import Settings

_seq = itertools.count(1)


def table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


def make_customer(engine: Engine, **fields: Any) -> int:
    n = next(_seq)
    now = utcnow()
    row: dict[str, Any] = {
        "email": f"person{n}@example.com",
        "firstname": f"First{n}",
        "lastname": f"Last{n}",
        "loyalty_id": f"LDTEST{n:06d}",
        "user_type": "CONSUMER",
        "extra_info": {},
        "num_of_order_discounts_allowed": 0,
        "entity_source": "CSV",
        "entity_source_id": f"csv-{n}",
        "active": True,
        "staff": False,
        "admin": False,
        "archived": False,
        "verified": False,
        "created_at": now,
        "updated_at": now,
    }
    row.update(fields)
    with engine.begin() as conn:
        return int(
            conn.execute(table(Customer).insert().values(row).returning(table(Customer).c.pk)).scalar_one()
        )


def make_customers(engine: Engine, n: int, **fields: Any) -> list[int]:
    """`n` customers in one statement."""
    now = utcnow()
    rows = []
    for _ in range(n):
        i = next(_seq)
        rows.append(
            {
                "email": f"bulk{i}@example.com",
                "firstname": f"Bulk{i}",
                "lastname": "Customer",
                "loyalty_id": f"LDBULK{i:06d}",
                "user_type": "CONSUMER",
                "extra_info": {},
                "num_of_order_discounts_allowed": 0,
                "active": True,
                "staff": False,
                "admin": False,
                "archived": False,
                "verified": False,
                "created_at": now,
                "updated_at": now,
                **fields,
            }
        )
    with engine.begin() as conn:
        result = conn.execute(table(Customer).insert().returning(table(Customer).c.pk), rows)
        return sorted(int(pk) for pk in result.scalars().all())


def make_source_row(
    engine: Engine, customer_pk: int, source: str, payload: dict[str, Any], priority: int = 30
) -> None:
    """The source row a sync would have written for this customer."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            table(CustomerSource)
            .insert()
            .values(
                source=source,
                source_id=f"{source}-{customer_pk}",
                entity_source="CSV",
                customer_pk=customer_pk,
                priority=priority,
                modstamp=now,
                content_hash="x",
                payload=payload,
                deleted=False,
                created_at=now,
                updated_at=now,
            )
        )


def make_login(
    engine: Engine, customer_pk: int, email: str, password: str, settings: Settings, **fields: Any
) -> None:
    values: dict[str, Any] = {
        "customer_pk": customer_pk,
        "email": email,
        "password_hash": hash_password(password, settings),
        "email_verified": True,
        "verification_required": False,
        "created_at": utcnow(),
    }
    values.update(fields)
    with engine.begin() as conn:
        conn.execute(table(CustomerLogin).insert().values(values))


def token_for(engine: Engine, settings: Settings, customer_pk: int) -> tuple[str, str]:
    """`(access, refresh)` for a customer, as a login would hand out."""
    with engine.begin() as conn:
        return issue_session(conn, settings, customer_pk, None, utcnow())


def make_store(engine: Engine, name: str) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                table(Store).insert().values(name=name, created_at=utcnow()).returning(table(Store).c.pk)
            ).scalar_one()
        )


def make_order_type(engine: Engine, name: str) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                table(OrderType).insert().values(name=name).returning(table(OrderType).c.pk)
            ).scalar_one()
        )


def make_order(
    engine: Engine,
    customer_pk: int,
    completed_at: datetime,
    total: str = "10.00",
    store_pk: int | None = None,
    order_type_pk: int | None = None,
    payment_type: str | None = "CARD",
    order_id: str | None = None,
) -> int:
    n = next(_seq)
    now = utcnow()
    with engine.begin() as conn:
        return int(
            conn.execute(
                table(Order)
                .insert()
                .values(
                    source="test",
                    source_id=f"o{n}",
                    order_id=order_id or f"ORD-{n}",
                    customer_pk=customer_pk,
                    store_pk=store_pk,
                    order_type_pk=order_type_pk,
                    completed_at=completed_at,
                    payment_type=payment_type,
                    total=Decimal(total),
                    content_hash="",
                    extra_info={},
                    created_at=now,
                    updated_at=now,
                )
                .returning(table(Order).c.pk)
            ).scalar_one()
        )


def make_redemption(
    engine: Engine, customer_pk: int, kind: str, created_at: datetime, promotion_pk: int | None = None
) -> int:
    n = next(_seq)
    with engine.begin() as conn:
        return int(
            conn.execute(
                table(Redemption)
                .insert()
                .values(
                    source="test",
                    source_id=f"r{n}",
                    customer_pk=customer_pk,
                    promotion_pk=promotion_pk,
                    kind=kind,
                    points=10 if kind == "POINTS" else 0,
                    stamps=1 if kind == "STAMPS" else 0,
                    content_hash="",
                    created_at=created_at,
                )
                .returning(table(Redemption).c.pk)
            ).scalar_one()
        )


def book_points(engine: Engine, customer_pk: int, delta: int, reason: str = "earn") -> None:
    n = next(_seq)
    with engine.begin() as conn:
        conn.execute(
            table(PointsLedger)
            .insert()
            .values(
                source="test",
                source_id=f"p{n}",
                customer_pk=customer_pk,
                delta=delta,
                reason=reason,
                created_at=utcnow(),
            )
        )


def make_promotion(engine: Engine, name: str, **fields: Any) -> int:
    n = next(_seq)
    now = utcnow()
    values: dict[str, Any] = {
        "source": "test",
        "source_id": f"pr{n}",
        "name": name,
        "audience": "EVERYONE",
        "tags": [],
        "points_cost": 0,
        "active": True,
        "content_hash": "",
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    with engine.begin() as conn:
        return int(
            conn.execute(
                table(Promotion).insert().values(values).returning(table(Promotion).c.pk)
            ).scalar_one()
        )


def user_id(pk: int) -> str:
    return to_global_id("IUserNode", pk)


def birthday(year: int, month: int, day: int) -> date:
    return date(year, month, day)
