"""Logins and refresh tokens: the secret side of a customer, never handed out by the API."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime, utcnow


class CustomerLogin(SQLModel, table=True):
    """A customer's credentials (argon2 hash); lockouts are `LoginThrottle`'s, by e-mail."""

    __tablename__ = "customer_login"

    pk: int | None = Field(default=None, primary_key=True)
    customer_pk: int = Field(foreign_key="customer.pk", unique=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    email_verified: bool = False
    # A login that claims a customer a sync created may not be used (nor see that customer)
    # until its owner proves the mailbox with `verifyAccount`.
    verification_required: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per e-mail address, known or not, and the lockout they led to.

    Kept by address rather than on the login, so that an address without a login locks exactly
    like one with (the answer must not tell which exist), and in the store, so a restart or a
    second API process does not forget it.
    """

    __tablename__ = "login_throttle"

    email: str = Field(max_length=254, primary_key=True)
    failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """A refresh token, stored only as its hash; rotated on use, revocable."""

    __tablename__ = "refresh_token"
    __table_args__ = (sa.Index("ix_refresh_token_customer", "customer_pk"),)

    pk: int | None = Field(default=None, primary_key=True)
    customer_pk: int = Field(foreign_key="customer.pk")
    token_hash: str = Field(max_length=64, unique=True)
    family: str = Field(max_length=32)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replaced_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
