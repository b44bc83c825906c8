"""The webhook inbox: taking deliveries in (de-duplicated), and draining them through the pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from connectors import FatalSourceError, ReadError, SourceRecord, Stream, StreamContext
from models import SyncRun, UserEntitySource, WebhookDelivery, WebhookInbox, ensure_schema, utcnow
from models.enums import RunStatus
from sync.mapping import MappingSpec, native_layout
from sync.pipeline import RunSummary, StreamBusy, create_run, execute_run, holder_of
from sync.settings import Settings

log = structlog.get_logger("sync.webhook")

RECORD = "record"
REF = "ref"
# The `sync_run.stream` of every inbox drain, so a failed drain is never mistaken for (and
# resumed as) a failed API sync of the source's own stream.
RUN_STREAM = "webhook"

_inbox = WebhookInbox.__table__  # type: ignore[attr-defined]
_deliveries = WebhookDelivery.__table__  # type: ignore[attr-defined]
_runs = SyncRun.__table__  # type: ignore[attr-defined]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ClaimLostError(RuntimeError):
    """Another drain claimed some of this batch's records first; the batch is rolled back."""


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One record a delivery carried (`record`), or one id it named for a fetch (`ref`)."""

    source_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    modstamp: datetime | None = None
    deleted: bool = False
    kind: str = RECORD


@dataclass(frozen=True, slots=True)
class Accepted:
    """What a delivery added: new delivery ids, and inbox rows written from them."""

    deliveries: int
    duplicates: int
    items: int


def _insert(conn: sa.Connection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_deliveries)


def accept_delivery(
    engine: Engine, source: str, stream: str, deliveries: Mapping[str, Sequence[InboxItem]]
) -> Accepted:
    """Write the items of deliveries not seen before into the inbox, in one transaction.

    `deliveries` maps a delivery id (an Outbound Message notification id, a signed body's
    signature) to the items it carried. An id taken earlier, even by a concurrent request,
    adds nothing: the unique key decides which of two requests takes it.
    """
    if not deliveries:
        return Accepted(0, 0, 0)
    now = utcnow()
    with engine.begin() as conn:
        stmt = (
            _insert(conn)
            .values([{"source": source, "delivery_id": d, "received_at": now} for d in deliveries])
            .on_conflict_do_nothing(index_elements=["source", "delivery_id"])
            .returning(_deliveries.c.delivery_id)
        )
        fresh = set(conn.execute(stmt).scalars())
        rows = [
            {
                "source": source,
                "stream": stream,
                "kind": item.kind,
                "source_id": item.source_id,
                "modstamp": item.modstamp,
                "deleted": item.deleted,
                "payload": item.fields,
                "delivery_id": delivery,
                "received_at": now,
            }
            for delivery, items in deliveries.items()
            if delivery in fresh
            for item in items
        ]
        if rows:
            conn.execute(sa.insert(_inbox), rows)
    return Accepted(len(fresh), len(deliveries) - len(fresh), len(rows))


def pending_count(engine: Engine, source: str, stream: str, *, kind: str | None = None) -> int:
    """Records and refs (or only one `kind`) of a stream not yet claimed by a run."""
    query = (
        sa.select(sa.func.count())
        .select_from(_inbox)
        .where(_inbox.c.source == source, _inbox.c.stream == stream, _inbox.c.run_id.is_(None))
    )
    if kind is not None:
        query = query.where(_inbox.c.kind == kind)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def waiting_streams(engine: Engine, older_than: timedelta) -> list[tuple[str, str]]:
    """(source, stream) pairs with rows received more than `older_than` ago and not imported."""
    cutoff = utcnow() - older_than
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_inbox.c.source, _inbox.c.stream)
            .where(_inbox.c.run_id.is_(None), _inbox.c.received_at < cutoff)
            .group_by(_inbox.c.source, _inbox.c.stream)
            .order_by(_inbox.c.source, _inbox.c.stream)
        ).all()
    return [(str(r.source), str(r.stream)) for r in rows]


class InboxStream(Stream):
    """The records one (source, stream) inbox holds, up to the newest row when the drain began.

    Rows come grouped by source id, each group oldest stamp first, so the loader (which keeps
    the last of a source id in a batch) keeps the newest; a stale one is then `unchanged`.
    """

    source: ClassVar[str] = "webhook"
    name: ClassVar[str] = RUN_STREAM
    resume_by_skip: ClassVar[bool] = False

    def __init__(
        self,
        engine: Engine,
        source_name: str,
        inbox_stream: str,
        entity_source: str,
        *,
        needs_modstamp: bool,
        page_size: int = 1000,
    ) -> None:
        super().__init__(source_name)
        self.engine = engine
        self.inbox_stream = inbox_stream
        self.entity_source = entity_source
        self.needs_modstamp = needs_modstamp
        self.page_size = page_size

    def describe(self) -> dict[str, Any]:
        return {"inbox": self.inbox_stream}

    def _pending(self) -> sa.ColumnElement[bool]:
        return sa.and_(
            _inbox.c.source == self.source_name,
            _inbox.c.stream == self.inbox_stream,
            _inbox.c.kind == RECORD,
            _inbox.c.run_id.is_(None),
        )

    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError]:
        with self.engine.connect() as conn:
            upto = conn.execute(sa.select(sa.func.max(_inbox.c.pk)).where(self._pending())).scalar()
        if upto is None:
            return
        # Rows arriving during the drain are left to the next one, which their webhook requested.
        after: tuple[str, int] = ("", 0)
        group: list[Any] = []
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(
                        _inbox.c.pk, _inbox.c.source_id, _inbox.c.modstamp, _inbox.c.deleted, _inbox.c.payload
                    )
                    .where(self._pending(), _inbox.c.pk <= upto)
                    .where(sa.tuple_(_inbox.c.source_id, _inbox.c.pk) > sa.tuple_(*after))
                    .order_by(_inbox.c.source_id, _inbox.c.pk)
                    .limit(self.page_size)
                ).all()
            for row in rows:
                if group and row.source_id != group[0].source_id:
                    yield from self._group(group)
                    group = []
                group.append(row)
            if len(rows) < self.page_size:
                break
            after = (rows[-1].source_id, rows[-1].pk)
        yield from self._group(group)

    def _group(self, rows: list[Any]) -> Iterator[SourceRecord | ReadError]:
        for row in sorted(rows, key=lambda r: (r.modstamp or _EPOCH, r.pk)):
            if self.needs_modstamp and row.modstamp is None:
                yield ReadError(
                    row.pk,
                    "no_modstamp",
                    "the webhook carried no SystemModstamp, so its age is unknown; add the field to the message",
                    row.source_id,
                )
                continue
            yield SourceRecord(row.source_id, dict(row.payload or {}), row.modstamp, row.deleted, row.pk)


def claim_batch(conn: sa.Connection, run_id: str, positions: Sequence[int | None]) -> None:
    """Mark a batch's inbox rows as imported by `run_id`, inside the batch's own transaction."""
    pks = sorted({p for p in positions if p is not None})
    if not pks:
        return
    claimed = conn.execute(
        sa.update(_inbox)
        .where(_inbox.c.pk.in_(pks), _inbox.c.run_id.is_(None))
        .values(run_id=run_id, claimed_at=utcnow())
    ).rowcount
    if claimed != len(pks):
        raise ClaimLostError(f"{len(pks) - claimed} of the batch's records were claimed by another drain")


# --- what each source's inbox holds ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxSource:
    """How one source's webhook records are imported: its mapping and entity source."""

    spec: MappingSpec
    entity_source: str
    # Salesforce records are ordered by their stamp; without one, an old redelivery could win.
    needs_modstamp: bool


def salesforce_contact_spec(settings: Settings) -> MappingSpec:
    """The mapping the Salesforce connector's contacts use, so both land on one source row."""
    from connectors.salesforce import ContactsStream

    return MappingSpec(
        kind="customers",
        fields={**ContactsStream.default_fields, **settings.salesforce.contact_fields},
        id_columns=["Id"],
        modstamp_columns=["SystemModstamp"],
        deleted_columns=["IsDeleted"],
    )


def inbox_source(settings: Settings, source: str) -> InboxSource:
    """The mapping of `source`'s webhook records: Salesforce contacts, or the `native` layout."""
    if source == "salesforce":
        return InboxSource(salesforce_contact_spec(settings), UserEntitySource.SALESFORCE, True)
    layout = native_layout("customers")
    family = source.split("-", 1)[0].upper()
    entity = family if family in UserEntitySource.__members__ else layout.entity_source
    return InboxSource(layout.spec, entity, False)


# --- draining ----------------------------------------------------------------------------------

# Sources whose webhooks may name ids for the source to be asked about:
# (settings, stream, task id) -> the incremental sync's run.
Fetcher = Callable[[Settings, str, str | None], RunSummary]


def _fetch_salesforce(settings: Settings, stream: str, task_id: str | None) -> RunSummary:
    from sync.jobs.salesforce import sync_salesforce

    return sync_salesforce(settings, stream=stream, trigger="webhook", token=task_id, task_id=task_id)


def _salesforce_unready(settings: Settings) -> str | None:
    from connectors.salesforce import auth_mode

    try:
        auth_mode(settings.salesforce)
    except FatalSourceError as exc:
        return str(exc)
    return None


FETCHERS: dict[str, Fetcher] = {"salesforce": _fetch_salesforce}
# Why a source's fetch cannot run with these settings (no credentials), or None when it can.
FETCH_UNREADY: dict[str, Callable[[Settings], str | None]] = {"salesforce": _salesforce_unready}


def fetch_problem(settings: Settings, source: str) -> str | None:
    """Why ids named for `source` could not be fetched now, in one line; None when they can."""
    if source not in FETCHERS:
        return f"{source} cannot be asked for records by id"
    unready = FETCH_UNREADY.get(source)
    return unready(settings) if unready is not None else None


FETCH_STREAMS: dict[str, tuple[str, ...]] = {"salesforce": ("contacts", "orders")}


@dataclass(slots=True)
class DrainResult:
    """The runs one drain made: the records' import, and the fetch that the refs asked for."""

    records: RunSummary | None = None
    fetch: RunSummary | None = None
    # Something pending could not be taken now (the stream was held by another run, or the
    # fetch paused): the caller should drain again later.
    again: bool = False
    pruned: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A task's result, as Flower shows it."""
        return {
            "records": self.records.as_dict() if self.records else None,
            "fetch": self.fetch.as_dict() if self.fetch else None,
            "again": self.again,
            "pruned": self.pruned,
        }


def _open_run(engine: Engine, stream: InboxStream, task_id: str | None) -> str:
    """The stream's newest drain if it stopped half-way (its claimed rows stay claimed), or a new one."""
    newest = (
        sa.select(_runs.c.id, _runs.c.status)
        .where(_runs.c.source == stream.source_name, _runs.c.stream == RUN_STREAM)
        .where(_runs.c.params["inbox"].as_string() == stream.inbox_stream)
        .order_by(_runs.c.started_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(newest).first()
    # The caller holds the stream, so a `running` drain here is one whose owner died.
    if row is not None and row.status in (RunStatus.RUNNING, RunStatus.FAILED, RunStatus.PAUSED):
        return str(row.id)
    return create_run(
        engine, stream, entity_kind="customers", mode="incremental", trigger="webhook", task_id=task_id
    )


def _has_pending(engine: Engine, source: str, stream: str, kind: str) -> int | None:
    with engine.connect() as conn:
        upto = conn.execute(
            sa.select(sa.func.max(_inbox.c.pk)).where(
                _inbox.c.source == source,
                _inbox.c.stream == stream,
                _inbox.c.kind == kind,
                _inbox.c.run_id.is_(None),
            )
        ).scalar()
    return None if upto is None else int(upto)


def drain_records(
    settings: Settings, engine: Engine, source: str, stream: str, task_id: str | None = None
) -> RunSummary | None:
    """Import the records pending for (source, stream) in one run; None when there are none.

    The run holds the stream `(source, "webhook")` under the task's id: a second drain
    started meanwhile is recorded `skipped` and leaves the records for a later one.
    """
    how = inbox_source(settings, source)
    reader = InboxStream(engine, source, stream, how.entity_source, needs_modstamp=how.needs_modstamp)
    if _has_pending(engine, source, stream, RECORD) is None:
        return None
    held = holder_of(engine, source, RUN_STREAM)
    if held is not None and held[1] != task_id:
        # Checked first so that a drain overlapping another leaves no `skipped` run behind;
        # the lease itself still decides if two start at once.
        raise StreamBusy(held[0], f"drain {held[0]} of {source} is running")
    run_id = _open_run(engine, reader, task_id)
    return execute_run(
        engine,
        settings,
        reader,
        how.spec,
        run_id,
        in_batch=lambda conn, positions: claim_batch(conn, run_id, positions),
        token=task_id,
    )


def drain_refs(
    settings: Settings, engine: Engine, source: str, stream: str, task_id: str | None = None
) -> RunSummary | None:
    """Run one incremental sync for the ids webhooks named, then mark them as served by it."""
    upto = _has_pending(engine, source, stream, REF)
    if upto is None or source not in FETCHERS:
        return None
    summary = FETCHERS[source](settings, stream, task_id)
    if summary.status != RunStatus.SUCCEEDED:
        # A paused or skipped sync has not read up to now: the ids stay for the next one.
        return summary
    # Only what was pending before the sync began: it read the source up to its own start.
    with engine.begin() as conn:
        conn.execute(
            sa.update(_inbox)
            .where(_inbox.c.source == source, _inbox.c.stream == stream, _inbox.c.kind == REF)
            .where(_inbox.c.run_id.is_(None), _inbox.c.pk <= upto)
            .values(run_id=summary.run_id, claimed_at=utcnow())
        )
    return summary


def prune(engine: Engine, retention: timedelta) -> int:
    """Forget delivery ids and imported inbox rows older than `retention` (payloads hold personal data)."""
    cutoff = utcnow() - retention
    with engine.begin() as conn:
        gone = conn.execute(sa.delete(_deliveries).where(_deliveries.c.received_at < cutoff)).rowcount
        gone += conn.execute(
            sa.delete(_inbox).where(_inbox.c.received_at < cutoff, _inbox.c.run_id.is_not(None))
        ).rowcount
    return int(gone)


def drain_inbox(settings: Settings, source: str, stream: str, *, task_id: str | None = None) -> DrainResult:
    """Everything pending for (source, stream): carried records imported, named ids fetched.

    One drain per (source, stream) runs at a time (the run's stream lease); a second one is
    skipped or, at worst, rolls its batches back (ClaimLostError): no record twice.
    """
    engine = ensure_schema(settings.database_url)
    result = DrainResult()
    try:
        result.records = drain_records(settings, engine, source, stream, task_id)
    except StreamBusy as exc:
        log.info("webhook.drain_busy", source=source, stream=stream, holder=exc.holder)
        result.again = True
    try:
        result.fetch = drain_refs(settings, engine, source, stream, task_id)
    except StreamBusy as exc:
        log.info("webhook.fetch_busy", source=source, stream=stream, holder=exc.holder)
        result.again = True
    for summary in (result.records, result.fetch):
        if summary is not None and summary.status != RunStatus.SUCCEEDED:
            result.again = True
    result.pruned = prune(engine, timedelta(hours=settings.webhook_retention_hours))
    log.info(
        "webhook.drained",
        source=source,
        stream=stream,
        records_run=result.records.run_id if result.records else None,
        fetch_run=result.fetch.run_id if result.fetch else None,
        pruned=result.pruned,
    )
    return result
