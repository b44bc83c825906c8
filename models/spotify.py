"""Linked Spotify accounts (tokens encrypted) and the used nonces of OAuth `state` values."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime, utcnow


class SpotifyLinkStatus(StrEnum):
    """Whether the refresh can read a link, or its customer must link again."""

    LINKED = "linked"
    NEEDS_RELINK = "needs_relink"


class SpotifyLink(SQLModel, table=True):
    """One customer's link to one Spotify account; the tokens are Fernet ciphertext, never plain."""

    __tablename__ = "spotify_link"
    __table_args__ = (
        sa.UniqueConstraint("customer_pk", "spotify_account_id", name="uq_spotify_link_customer_account"),
        sa.Index("ix_spotify_link_account", "spotify_account_id"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    customer_pk: int = Field(foreign_key="customer.pk")
    # The entity source id: the profile's `account_id`, or its `id` where it has none.
    spotify_account_id: str = Field(max_length=255)
    access_token_encrypted: str
    refresh_token_encrypted: str
    expires_at: datetime = Field(sa_type=UTCDateTime)
    scope: str = Field(default="", max_length=1024)
    status: str = Field(default=SpotifyLinkStatus.LINKED, max_length=16)
    # A 429 deferred this account: the refresh skips it until then.
    retry_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OAuthStateUse(SQLModel, table=True):
    """A `state` nonce that came back once: a second callback with it is a replay."""

    __tablename__ = "oauth_state_use"

    nonce: str = Field(primary_key=True, max_length=64)
    customer_pk: int
    used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Past this, the signature refuses the state anyway, so the row may be purged.
    expires_at: datetime = Field(sa_type=UTCDateTime)
