"""The customer: shared fields, the table, and the read model the API hands out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import JSONType, UTCDateTime, utcnow


class CustomerBase(SQLModel):
    """Every field of the documented customer object that a source or a person can set."""

    email: str | None = Field(default=None, max_length=254)
    firstname: str = Field(default="", max_length=150)
    lastname: str = Field(default="", max_length=150)
    phone_number: str | None = Field(default=None, max_length=32)
    birthday: date | None = None
    gender: str | None = Field(default=None, max_length=16)
    country: str | None = Field(default=None, max_length=2)
    city: str | None = Field(default=None, max_length=150)
    street: str | None = Field(default=None, max_length=255)
    zip_code: str | None = Field(default=None, max_length=32)
    address: str | None = None
    picture: str | None = None
    secondary_email: str | None = Field(default=None, max_length=254)
    extra_info: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


# The golden-record fields: computed from source rows, highest priority first.
GOLDEN_FIELDS: tuple[str, ...] = (
    "email",
    "firstname",
    "lastname",
    "phone_number",
    "birthday",
    "gender",
    "country",
    "city",
    "street",
    "zip_code",
    "address",
    "picture",
    "secondary_email",
)


# Trigram GIN indexes for `consumers(email_Icontains / phoneNumber_Icontains)`
# (`lower(column) LIKE lower('%…%')`), on `lower(column)` so that `=` on the column is never
# planned on them (migration 0013): created on PostgreSQL only (pg_trgm), so they are not in the
# metadata and schema comparisons leave them out.
POSTGRES_ONLY_INDEXES: frozenset[str] = frozenset(
    {"ix_customer_email_lower_trgm", "ix_customer_phone_number_lower_trgm"}
)


class Customer(CustomerBase, table=True):
    """One person on the platform; its synced fields are a pure function of its source rows."""

    __tablename__ = "customer"
    __table_args__ = (
        sa.Index("ix_customer_email", "email", unique=True),
        sa.Index("ix_customer_loyalty_id", "loyalty_id", unique=True),
        sa.Index("ix_customer_phone_number", "phone_number"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    loyalty_id: str = Field(max_length=32)
    user_type: str = Field(default="CONSUMER", max_length=16)
    merchant_type: str | None = Field(default=None, max_length=32)
    creator_pk: int | None = Field(default=None, foreign_key="customer.pk")
    logo: str | None = None
    num_of_order_discounts_allowed: int = 0
    entity_source: str | None = Field(default=None, max_length=16)
    entity_source_id: str | None = Field(default=None, max_length=255)
    active: bool = True
    staff: bool = False
    admin: bool = False
    archived: bool = False
    verified: bool = False
    last_login: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # When an operator approved this merchant (`customer-sync merchants approve`): until then a
    # self-registered merchant sees no customer but itself, whatever stores name it.
    merchant_approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CustomerPublic(CustomerBase):
    """What leaves the store: the customer without anything secret."""

    pk: int
    loyalty_id: str
    user_type: str
    merchant_type: str | None
    creator_pk: int | None
    logo: str | None
    num_of_order_discounts_allowed: int
    entity_source: str | None
    entity_source_id: str | None
    active: bool
    staff: bool
    admin: bool
    archived: bool
    verified: bool
    last_login: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime
