"""A customer as one source last told it (the golden record's inputs), and deletes of records not seen yet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import JSONType, UTCDateTime, utcnow


class CustomerSource(SQLModel, table=True):
    """One (source, source id): its customer, stamp, content hash, payload and tombstone."""

    __tablename__ = "customer_source"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="uq_customer_source_key"),
        sa.Index("ix_customer_source_customer_pk", "customer_pk"),
        # An import looks its batch's raw-row hashes up here, to skip unchanged rows unmapped.
        sa.Index("ix_customer_source_raw_hash", "source", "raw_hash"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_id: str = Field(max_length=255)
    entity_source: str = Field(max_length=16)
    customer_pk: int = Field(foreign_key="customer.pk")
    priority: int = 0
    modstamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    content_hash: str = Field(max_length=64)
    # Hash of the raw row last mapped into this one (sync.mapping.raw); null when it came from
    # elsewhere (an API write, a tombstone), so only a row read again unchanged is skipped.
    raw_hash: str | None = Field(default=None, max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    deleted: bool = False
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why this row's e-mail is not on its customer (another customer holds it), if so.
    conflict: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SourceTombstone(SQLModel, table=True):
    """A delete of a (source, source id) the store has no row for yet, with the delete's stamp.

    Sources send deletes out of order with the records they delete (a delta before its base, a
    Salesforce `getDeleted` before the Contact's page): a record no newer than this delete that
    arrives later stays deleted; a newer one revives it, and this row goes.
    """

    __tablename__ = "source_tombstone"

    source: str = Field(max_length=64, primary_key=True)
    source_id: str = Field(max_length=255, primary_key=True)
    entity_source: str = Field(max_length=16)
    modstamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
