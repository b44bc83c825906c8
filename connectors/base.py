"""The connector interface: a stream yields raw `SourceRecord`s and keeps a small JSON cursor."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class FatalSourceError(Exception):
    """The source cannot be read at all (missing file, bad credentials, unknown layout).

    `run_id` is set when a run was opened and recorded failed because of it (so a command can
    tell "nothing ran" from "the run failed").
    """

    run_id: str | None = None


class TransientSourceError(Exception):
    """A failure that may pass (timeouts, 5xx, a lost connection): retry the run later.

    `retry_after` is how long the source asked to be left alone (a 429's Retry-After), if it said.
    """

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PauseRun(Exception):  # noqa: N818 - it is a signal, not a failure
    """The source asks us to stop for now (quota, rate limit); the run resumes later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(slots=True)
class ReadWarning:
    """Something a stream noticed about a record it could still read (e.g. its encoding)."""

    reason: str
    message: str
    # Where it applies when not the record's own position (a header problem is line 1).
    position: int | None = None


@dataclass(slots=True)
class SourceRecord:
    """One record as the source gave it: its id, stamp, deleted flag and raw fields."""

    source_id: str | None
    fields: dict[str, Any]
    modstamp: datetime | None = None
    deleted: bool = False
    # Where it was read: a file line, or a running number for APIs.
    position: int | None = None
    warnings: list[ReadWarning] = field(default_factory=list)
    # The record's text exactly as read, when the source has one (a CSV row's line): it and
    # the stream's `raw_context()` decide `fields`, so a hash of the two tells an unchanged
    # record without looking at its fields.
    raw: str | None = None


@dataclass(slots=True)
class RecordText:
    """A record handed over as its text alone (a CSV line): `record()` splits it into fields.

    A stream yields these from `lazy_records` where splitting a record costs more than reading
    it: a pipeline that finds the text unchanged (its hash already stored) never splits it.
    `record()` gives exactly the item `records()` yields for that text.
    """

    position: int
    raw: str
    # The stream's own splitting, (position, text) -> the record or why it is unreadable.
    split: Callable[[int, str], SourceRecord | ReadError]

    def record(self) -> SourceRecord | ReadError:
        return self.split(self.position, self.raw)


@dataclass(slots=True)
class ReadError:
    """A record the stream could not even split into fields (e.g. a row of the wrong width)."""

    position: int | None
    reason: str
    message: str
    raw: str | None = None


@dataclass(slots=True)
class SourceWarning:
    """Something an operator should see that is not a record (a revoked link, a deferred account).

    The run counts it as a warning and keeps it in `sync_reject`; it is not a record read.
    """

    reason: str
    message: str
    source_id: str | None = None
    position: int | None = None


@dataclass(slots=True)
class StreamContext:
    """What a stream is given to read from: its cursor, the run's checkpoint, the start time."""

    cursor: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    full: bool = False
    started_at: datetime | None = None


class Stream(ABC):
    """One stream of one source (`salesforce/contacts`, `csv/customers`)."""

    source: ClassVar[str]  # the source family, e.g. "salesforce"
    name: ClassVar[str]  # the stream, e.g. "contacts"
    kind: ClassVar[str] = "customers"  # what its records map to
    replication_key: ClassVar[str | None] = None
    # A file is re-read from the top on resume, skipping what was committed; an API stream
    # resumes from the cursor committed with its last batch instead.
    resume_by_skip: ClassVar[bool] = False

    def __init__(self, source_name: str | None = None) -> None:
        # Two Shopify shops are two sources of one family: `shopify-eu`, `shopify-us`.
        self.source_name = source_name or self.source

    @abstractmethod
    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError | SourceWarning]:
        """Yield the stream's records, in an order the cursor can resume from."""

    def lazy_records(
        self, ctx: StreamContext
    ) -> Iterator[SourceRecord | RecordText | ReadError | SourceWarning]:
        """`records`, with the records the stream can hand over as their text alone given as
        `RecordText`s (one item each all the same, in the same order): by default `records`."""
        return self.records(ctx)

    def cursor(self) -> dict[str, Any]:
        """The cursor as far as the records yielded so far; committed with each batch."""
        return {}

    def checkpoint(self) -> dict[str, Any]:
        """Connector resume state for a re-applied run (e.g. a Bulk job id); JSON, no secret."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What the run record shows about this stream's parameters (never a secret)."""
        return {}

    def raw_context(self) -> str:
        """What decides, beside a record's `raw` text, what its fields are (a CSV header)."""
        return ""

    def explain_failure(self, exc: BaseException) -> str | None:
        """One line for a person when `exc` ended the read because of the source (unreachable,
        refusing), with nothing secret in it; None for anything else, which is a bug.
        """
        return None
