"""Stores, orders, promotions, redemptions and the points ledger behind the read queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import JSONType, UTCDateTime, utcnow


class Store(SQLModel, table=True):
    """A merchant's store; orders and promotions may name one."""

    __tablename__ = "store"

    pk: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    merchant_pk: int | None = Field(default=None, foreign_key="customer.pk")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderType(SQLModel, table=True):
    """How an order was placed (dine-in, take-away, online, …)."""

    __tablename__ = "order_type"

    pk: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)


# How `orders` lists: newest first, undated orders last, then by pk.
_NEWEST_FIRST: tuple[sa.UnaryExpression[Any], ...] = (
    sa.desc(sa.column("completed_at")).nulls_last(),
    sa.desc(sa.column("pk")),
)


class Order(SQLModel, table=True):
    """A completed purchase by a customer, keyed by its source."""

    __tablename__ = "customer_order"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_order_source_key"),
        # The documented `orders` filters (consumer_Id, store_Id, completedAt_Gte/Lte), each in
        # the list's order (migration 0011; SQLite's DESC puts NULLs last by itself).
        sa.Index("ix_order_customer_completed", "customer_pk", *_NEWEST_FIRST),
        sa.Index("ix_order_store_completed", "store_pk", *_NEWEST_FIRST),
        sa.Index("ix_order_completed", *_NEWEST_FIRST),
    )

    pk: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_id: str = Field(max_length=255)
    order_id: str = Field(max_length=255)
    customer_pk: int = Field(foreign_key="customer.pk")
    store_pk: int | None = Field(default=None, foreign_key="store.pk")
    order_type_pk: int | None = Field(default=None, foreign_key="order_type.pk")
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    payment_type: str | None = Field(default=None, max_length=64)
    total: Decimal = Field(default=Decimal("0"), sa_type=sa.Numeric(14, 2))
    currency: str | None = Field(default=None, max_length=3)
    content_hash: str = Field(default="", max_length=64)
    extra_info: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Promotion(SQLModel, table=True):
    """An offer and the rules that decide which customers can have it, and when."""

    __tablename__ = "promotion"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_promotion_source_key"),
        sa.Index("ix_promotion_store", "store_pk"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_id: str = Field(max_length=255)
    name: str = Field(max_length=200)
    description: str | None = None
    store_pk: int | None = Field(default=None, foreign_key="store.pk")
    starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    audience: str = Field(default="EVERYONE", max_length=16)
    min_points: int | None = None
    tags: list[str] = Field(default_factory=list, sa_type=JSONType)
    per_customer_limit: int | None = None
    points_cost: int = 0
    active: bool = True
    content_hash: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Redemption(SQLModel, table=True):
    """A customer spending points or stamps, usually on a promotion."""

    __tablename__ = "redemption"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_redemption_source_key"),
        sa.Index("ix_redemption_customer_kind", "customer_pk", "kind"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_id: str = Field(max_length=255)
    customer_pk: int = Field(foreign_key="customer.pk")
    promotion_pk: int | None = Field(default=None, foreign_key="promotion.pk")
    kind: str = Field(default="POINTS", max_length=8)
    points: int = 0
    stamps: int = 0
    content_hash: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PointsLedger(SQLModel, table=True):
    """Every change to a customer's points; `pointsEarned` is the sum of the earned entries."""

    __tablename__ = "points_ledger"
    __table_args__ = (
        # One entry per cause, so a replayed import never books points twice.
        sa.UniqueConstraint("source", "source_id", name="uq_points_ledger_source_key"),
        sa.Index("ix_points_ledger_customer", "customer_pk"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_id: str = Field(max_length=255)
    customer_pk: int = Field(foreign_key="customer.pk")
    delta: int
    reason: str = Field(max_length=32)
    order_pk: int | None = Field(default=None, foreign_key="customer_order.pk")
    redemption_pk: int | None = Field(default=None, foreign_key="redemption.pk")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
