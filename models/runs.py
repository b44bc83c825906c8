"""Sync runs, their rejects and warnings, connector cursors, and per-run seen keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models._types import JSONType, UTCDateTime, utcnow

COUNT_FIELDS: tuple[str, ...] = (
    "read",
    "created",
    "updated",
    "unchanged",
    "deleted",
    "rejected",
    "duplicates",
    "warnings",
    "conflicts",
)


class SyncRun(SQLModel, table=True):
    """One run of one stream: what, why, how far, and how it ended. Never holds a secret."""

    __tablename__ = "sync_run"
    __table_args__ = (sa.Index("ix_sync_run_source_stream", "source", "stream", "started_at"),)

    id: str = Field(primary_key=True, max_length=32)
    source: str = Field(max_length=64)
    stream: str = Field(max_length=32)
    mode: str = Field(default="full", max_length=16)
    trigger: str = Field(default="cli", max_length=16)
    status: str = Field(default="running", max_length=16)
    # The Celery task that last picked the run up (none for an in-process CLI run).
    task_id: str | None = Field(default=None, max_length=64)
    # A `skipped` run names the run that held its stream.
    held_by: str | None = Field(default=None, max_length=32)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    duplicates: int = 0
    warnings: int = 0
    conflicts: int = 0
    cursor_before: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    cursor_after: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    # Where a resumed run picks up: records already committed, and connector resume state.
    checkpoint: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    error: str | None = None
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SyncReject(SQLModel, table=True):
    """A rejected record (or a dropped field, severity `warning`) with its position and reason."""

    __tablename__ = "sync_reject"
    __table_args__ = (sa.Index("ix_sync_reject_run", "run_id", "severity", "line"),)

    pk: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="sync_run.id", max_length=32)
    severity: str = Field(default="reject", max_length=8)
    line: int | None = None
    source_id: str | None = Field(default=None, max_length=255)
    field: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=64)
    message: str
    raw: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConnectorState(SQLModel, table=True):
    """The small JSON cursor (watermark) of one stream of one source."""

    __tablename__ = "connector_state"

    source: str = Field(primary_key=True, max_length=64)
    stream: str = Field(primary_key=True, max_length=32)
    cursor: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SyncSeen(SQLModel, table=True):
    """Source ids a run has already written, so a repeat later in the run counts as duplicate."""

    __tablename__ = "sync_seen"

    run_id: str = Field(primary_key=True, max_length=32)
    source_id: str = Field(primary_key=True, max_length=255)
    # The file line of the record that won so far: chunks load out of order, and the last
    # line in the file must win as it does when read top to bottom.
    line: int | None = None


class SyncPage(SQLModel, table=True):
    """One result page of a fanned-out Salesforce Bulk 2.0 run, with its own checkpoint.

    Pages are found one by one (each page names the next by its `Sforce-Locator`), so a
    page's row is written by the task that read the page before it.
    """

    __tablename__ = "sync_page"

    run_id: str = Field(primary_key=True, foreign_key="sync_run.id", max_length=32)
    index: int = Field(primary_key=True)
    # The locator the page is read from ("" for the first page): small, no secret.
    locator: str = Field(max_length=255)
    # The running number of its first record, as a sequential read would number it.
    first_position: int = Field(sa_type=sa.BigInteger)
    # Records on the page once read (None before), and those already committed.
    rows: int | None = None
    records: int = 0
    status: str = Field(default="pending", max_length=16)
    deliveries: int = 0
    # Whether the page said it is the job's last (no next locator).
    last: bool = False
    # Its highest (SystemModstamp, Id): the run's watermark is the highest over all pages.
    highest_stamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    highest_id: str | None = Field(default=None, max_length=32)
    error: str | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RunLease(SQLModel, table=True):
    """Which run holds a stream, until when: one run per (source, stream) at a time.

    A lease, not a lock held by a connection, so a crashed owner loses it when it stops
    renewing, and the in-process CLI and Celery workers on any machine share it.
    """

    __tablename__ = "run_lease"

    source: str = Field(primary_key=True, max_length=64)
    stream: str = Field(primary_key=True, max_length=32)
    run_id: str = Field(max_length=32)
    # Who holds it for the run: a Celery task id, or a process's random token.
    token: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class SyncChunk(SQLModel, table=True):
    """One byte range of a fanned-out CSV run, with its own checkpoint."""

    __tablename__ = "sync_chunk"

    run_id: str = Field(primary_key=True, foreign_key="sync_run.id", max_length=32)
    index: int = Field(primary_key=True)
    start: int = Field(sa_type=sa.BigInteger)
    end: int = Field(sa_type=sa.BigInteger)
    # The file line the range begins on, so rejects name the same lines a sequential run does.
    first_line: int
    # Records of the range already committed (a redelivered chunk skips them).
    records: int = 0
    status: str = Field(default="pending", max_length=16)
    deliveries: int = 0
    error: str | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
