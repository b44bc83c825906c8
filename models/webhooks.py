"""The webhook inbox: records that webhooks carried, and the delivery ids already taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import JSONType, UTCDateTime, utcnow


class WebhookDelivery(SQLModel, table=True):
    """A delivery already taken (an Outbound Message notification id, a signed body's signature).

    Kept for a retention window, so a redelivery inside it is acknowledged and ignored.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_received_at", "received_at"),)

    source: str = Field(primary_key=True, max_length=64)
    delivery_id: str = Field(primary_key=True, max_length=128)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookInbox(SQLModel, table=True):
    """One record a webhook carried (or named), pending until the import run that claims it.

    `kind` is `record` (the payload is the data, imported as it is) or `ref` (an id the
    source is asked for by an incremental sync). `run_id` is set in the same transaction
    that loads the record, so a record is imported exactly once.
    """

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        sa.Index("ix_webhook_inbox_pending", "source", "stream", "kind", "run_id", "source_id"),
        sa.Index("ix_webhook_inbox_received_at", "received_at"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    stream: str = Field(max_length=32)
    kind: str = Field(default="record", max_length=8)
    source_id: str = Field(max_length=255)
    modstamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted: bool = False
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    delivery_id: str | None = Field(default=None, max_length=128)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    run_id: str | None = Field(default=None, max_length=32)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
