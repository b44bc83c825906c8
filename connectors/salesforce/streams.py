"""A Salesforce sObject read by keyset on (SystemModstamp, Id), through REST or Bulk 2.0, with its deletes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import requests
import structlog
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.base import FatalSourceError, ReadError, SourceRecord, Stream, StreamContext
from connectors.salesforce import bulk, deletes
from connectors.salesforce.client import SalesforceClient, error_code, explain_failure
from connectors.salesforce.records import canonical, parse_stamp, soql_datetime, soql_select, soql_string
from connectors.salesforce.settings import SalesforceSettings

log = structlog.get_logger("connectors.salesforce")

# Given the ids the org holds now, the ids the store holds live for this source that are missing.
Reconciler = Callable[[Iterable[str]], Iterable[str]]
Row = dict[str, Any]

_SYSTEM = ("Id", "IsDeleted", "SystemModstamp")
_UNSELECTABLE = frozenset({"address", "location", "base64", "complexvalue"})


@dataclass(slots=True)
class BulkPage:
    """One Bulk result page as records, the next page's locator ("" after the last), its highest key."""

    records: list[SourceRecord]
    next_locator: str
    highest: tuple[datetime, str] | None


class SalesforceStream(Stream):
    """One sObject read by keyset on (SystemModstamp, Id) up to the sync's start.

    State: the cursor is `{"watermark", "last_id", "deletes_from"}` for the next run; the
    checkpoint is this run's exact position (and Bulk job) for a resumed run.
    """

    source: ClassVar[str] = "salesforce"
    sobject: ClassVar[str]
    primary_keys: ClassVar[tuple[str, ...]] = ("Id",)
    replication_key: ClassVar[str | None] = "SystemModstamp"
    resume_by_skip: ClassVar[bool] = False
    entity_source: ClassVar[str] = "SALESFORCE"
    # Whether soft deletes (queryAll), the delete log and id reconciliation apply.
    tracks_deletes: ClassVar[bool] = True
    # Documented field -> candidate columns; settings merge over these.
    default_fields: ClassVar[dict[str, list[str]]]
    extra_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        session: requests.Session | None = None,
        client: SalesforceClient | None = None,
        reconcile: Reconciler | None = None,
        source_name: str | None = None,
    ) -> None:
        super().__init__(source_name)
        self.settings = settings
        self.client = client or SalesforceClient(settings, session)
        self.reconcile = reconcile
        self.fields = {**self.default_fields, **self.configured_fields()}
        self.types: dict[str, str] = {}
        self._cursor: dict[str, Any] = {}
        self._sync_start = datetime.now(UTC)
        self._lower: datetime | None = None
        self._position: tuple[datetime, str] | None = None
        self._bulk: dict[str, Any] | None = None
        self._read = 0

    # --- hooks ----------------------------------------------------------------------------

    def configured_fields(self) -> dict[str, list[str]]:
        """The mapping overrides from settings."""
        return {}

    def enrich(self, rows: list[Row]) -> None:
        """Add derived columns to a page of rows before they become records."""

    # --- state ----------------------------------------------------------------------------

    def cursor(self) -> dict[str, Any]:
        cursor = dict(self._cursor)
        if self._position is not None:
            cursor["watermark"] = self._position[0].isoformat()
            cursor["last_id"] = self._position[1]
        return cursor

    def checkpoint(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "sync_start": self._sync_start.isoformat(),
            "lower": self._lower.isoformat() if self._lower else None,
            "position": [self._position[0].isoformat(), self._position[1]] if self._position else None,
        }
        if self._bulk is not None:
            state["bulk"] = dict(self._bulk)
        return state

    def explain_failure(self, exc: BaseException) -> str | None:
        return explain_failure(exc, self.client.settings.instance_url)

    def describe(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "auth": str(self.client.mode),
            "api_version": self.settings.api_version,
            "bulk_threshold": self.settings.bulk_threshold,
            "lookback_seconds": self.settings.lookback_seconds,
        }

    def _begin(self, ctx: StreamContext) -> None:
        self._cursor = {k: v for k, v in ctx.cursor.items() if k == "deletes_from"}
        lookback = timedelta(seconds=self.settings.lookback_seconds)
        checkpoint = ctx.checkpoint
        if "sync_start" in checkpoint:
            # A resumed run keeps its own end and position, whatever ran in between.
            self._sync_start = datetime.fromisoformat(checkpoint["sync_start"])
            self._lower = datetime.fromisoformat(checkpoint["lower"]) if checkpoint.get("lower") else None
            position = checkpoint.get("position")
            self._position = (datetime.fromisoformat(position[0]), position[1]) if position else None
            self._bulk = checkpoint.get("bulk")
            self._cursor = {k: v for k, v in ctx.cursor.items() if k != "bulk"}
            # Records already numbered (by the pages of a fanned-out job): the rest follow on.
            self._read = int(checkpoint.get("read", 0))
            return
        self._sync_start = (ctx.started_at or datetime.now(UTC)).astimezone(UTC)
        watermark = ctx.cursor.get("watermark")
        # Inclusive and a look-back early: stamps are set before commit, so a record can
        # become visible after later stamps were already read.
        self._lower = None if ctx.full or not watermark else datetime.fromisoformat(watermark) - lookback
        self._position = None
        self._bulk = None
        if watermark:
            self._cursor.update(watermark=watermark, last_id=ctx.cursor.get("last_id"))

    # --- reading --------------------------------------------------------------------------

    def records(self, ctx: StreamContext) -> Iterator[SourceRecord | ReadError]:
        self._begin(ctx)
        # Without a lower bound the whole table is read, so deletes are found by listing ids.
        whole_table = self._lower is None
        self._describe_fields()
        if self._bulk is not None:
            try:
                yield from self._read_bulk(resume=True)
            except bulk.BulkJobGone as exc:
                # The job's results expired or it failed: read the rest again from the position.
                log.warning("salesforce.bulk_resume_failed", error=str(exc))
                self._bulk = None
                yield from self._read_changes()
        else:
            yield from self._read_changes()
        if self.tracks_deletes:
            yield from self._read_deletes(whole_table=whole_table)

    # --- a Bulk job read page by page in other processes (fan-out) ------------------------

    def start_bulk(self, ctx: StreamContext) -> str | None:
        """Start this run's read as a Bulk 2.0 job when it is above the threshold: its id, else None.

        Afterwards `checkpoint()` describes the run with the job (its keyset bounds and id),
        for the pages to be read elsewhere with `bulk_page`.
        """
        self._begin(ctx)
        self._describe_fields()
        where = self._where()
        total = self.client.query(
            soql_select(["COUNT()"], self.sobject, where), include_deleted=self.tracks_deletes
        )
        if int(total["totalSize"]) <= self.settings.bulk_threshold:
            return None
        soql = soql_select(self._columns(), self.sobject, where)
        job_id = bulk.start_job(self.client, self.sobject, soql, include_deleted=self.tracks_deletes)
        self._bulk = {"job_id": job_id, "locator": "", "offset": 0}
        return job_id

    def bulk_page(self, job_id: str, locator: str, first_position: int, *, wait: float = 0) -> BulkPage:
        """One result page of `job_id` as records numbered from `first_position` (as a
        sequential read numbers them), with the next page's locator and its highest key.

        With `wait` > 0 it first waits up to that many seconds for the job to complete (for
        the first page), then raises PauseRun. FatalSourceError when the job or its results
        are gone.
        """
        self._describe_fields()
        s = self.settings
        try:
            if wait > 0:
                bulk.wait_for_job(self.client, self.sobject, job_id, poll=s.bulk_poll_seconds, timeout=wait)
            page = bulk.read_page(self.client, self.sobject, job_id, locator, page_size=s.bulk_page_size)
        except bulk.BulkJobGone as exc:
            raise FatalSourceError(str(exc)) from None
        rows = [self._row(r) for r in page.rows]
        self.enrich(rows)
        self._read = first_position - 1
        records = [self._record(row, move=False) for row in rows]
        keys = [(r.modstamp, str(r.source_id)) for r in records if r.modstamp is not None]
        return BulkPage(records, page.next_locator, max(keys) if keys else None)

    def _describe_fields(self) -> None:
        answer = self.client.call("describe", lambda sf: getattr(sf, self.sobject).describe())
        self.types = {f["name"]: f["type"] for f in answer["fields"] if f["type"] not in _UNSELECTABLE}

    def _columns(self) -> list[str]:
        wanted = [*_SYSTEM, *self.extra_columns]
        wanted += [c for columns in self.fields.values() for c in columns]
        # Custom fields travel along into extraInfo unless a mapping claims them.
        wanted += [name for name in self.types if name.endswith("__c")]
        return list(dict.fromkeys(c for c in wanted if c in self.types))

    def _where(self) -> str:
        end = f"SystemModstamp <= {soql_datetime(self._sync_start)}"
        if self._position is not None:
            stamp, last_id = soql_datetime(self._position[0]), soql_string(self._position[1])
            return f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {last_id})) AND {end}"
        if self._lower is not None:
            return f"SystemModstamp >= {soql_datetime(self._lower)} AND {end}"
        return end

    def _read_changes(self) -> Iterator[SourceRecord]:
        include_deleted = self.tracks_deletes
        count_soql = soql_select(["COUNT()"], self.sobject, self._where())
        total = self.client.query(count_soql, include_deleted=include_deleted)
        if int(total["totalSize"]) > self.settings.bulk_threshold:
            soql = soql_select(self._columns(), self.sobject, self._where())
            job_id = bulk.start_job(self.client, self.sobject, soql, include_deleted=include_deleted)
            self._bulk = {"job_id": job_id, "locator": "", "offset": 0}
            try:
                yield from self._read_bulk(resume=False)
            except bulk.BulkJobGone as exc:
                raise FatalSourceError(str(exc)) from None
            return
        yield from self._read_pages(include_deleted)

    def _read_pages(self, include_deleted: bool) -> Iterator[SourceRecord]:
        page_size = self.settings.page_size
        while True:
            soql = soql_select(
                self._columns(), self.sobject, self._where(), order_by="SystemModstamp, Id", limit=page_size
            )
            answer = self.client.query(soql, include_deleted=include_deleted)
            got = 0
            while True:
                rows = [self._row(r) for r in answer["records"]]
                self.enrich(rows)
                for row in rows:
                    got += 1
                    yield self._record(row, move=True)
                next_url = answer.get("nextRecordsUrl")
                if answer.get("done", True) or not next_url:
                    break
                try:
                    answer = self.client.query_more(next_url)
                except SalesforceMalformedRequest as exc:
                    if error_code(exc) != "INVALID_QUERY_LOCATOR":
                        raise
                    # An idle cursor expired: the keyset position says where to ask again.
                    got = -1
                    break
            if 0 <= got < page_size:
                return

    def _read_bulk(self, *, resume: bool) -> Iterator[SourceRecord]:
        assert self._bulk is not None
        job_id = str(self._bulk["job_id"])
        s = self.settings
        bulk.wait_for_job(
            self.client,
            self.sobject,
            job_id,
            poll=s.bulk_poll_seconds,
            timeout=s.bulk_wait_seconds,
        )
        if resume:
            log.info("salesforce.bulk_resume", job_id=job_id, locator=self._bulk["locator"])
        skip = int(self._bulk["offset"])
        # The keyset position moves only once the whole job is read: its rows need not be in order.
        seen = self._bulk.get("highest")
        highest = (datetime.fromisoformat(seen[0]), seen[1]) if seen else self._position
        pages = bulk.read_pages(
            self.client,
            self.sobject,
            job_id,
            str(self._bulk["locator"]),
            page_size=s.bulk_page_size,
        )
        for page in pages:
            rows = [self._row(r) for r in page.rows[skip:]]
            self.enrich(rows)
            for i, row in enumerate(rows, start=skip + 1):
                key = (parse_stamp(row["SystemModstamp"]), str(row["Id"]))
                highest = key if highest is None or key > highest else highest
                self._bulk = {
                    "job_id": job_id,
                    "locator": page.locator,
                    "offset": i,
                    "highest": [highest[0].isoformat(), highest[1]],
                }
                if i == len(page.rows) and not page.next_locator:
                    self._bulk, self._position = None, highest
                yield self._record(row, move=False)
            skip = 0
        self._bulk, self._position = None, highest

    def _row(self, raw: dict[str, Any]) -> Row:
        return {k: canonical(v, self.types.get(k, "string")) for k, v in raw.items() if k != "attributes"}

    def _record(self, row: Row, *, move: bool) -> SourceRecord:
        stamp = parse_stamp(row["SystemModstamp"])
        if move:
            self._position = (stamp, str(row["Id"]))
        self._read += 1
        deleted = bool(row.get("IsDeleted"))
        # A deleted record carries only its id: its last content is already stored, and a
        # field that no longer validates must not keep the tombstone out.
        fields = {} if deleted else row
        return SourceRecord(str(row["Id"]), fields, stamp, deleted, self._read)

    # --- deletes --------------------------------------------------------------------------

    def _read_deletes(self, *, whole_table: bool) -> Iterator[SourceRecord]:
        lookback = timedelta(seconds=self.settings.lookback_seconds)
        if not whole_table and self._lower is not None:
            known = self._cursor.get("deletes_from")
            start = self._lower
            if known:
                start = min(start, datetime.fromisoformat(known) - lookback)
            found = deletes.read_delete_log(self.client, self.sobject, start, self._sync_start)
            if found is not None:
                yield from self._tombstones(list(found.deleted), found.latest_covered)
                return
            log.info("salesforce.delete_log_short", sobject=self.sobject, start=start.isoformat())
        if self.reconcile is None:
            return
        live = deletes.live_ids(self.client, self.sobject)
        missing: list[tuple[str, datetime | None]] = [(sid, None) for sid in self.reconcile(live)]
        log.info("salesforce.reconciled", sobject=self.sobject, missing=len(missing))
        yield from self._tombstones(missing, self._sync_start)

    def _tombstones(
        self, ids: list[tuple[str, datetime | None]], covered: datetime
    ) -> Iterator[SourceRecord]:
        if not ids:
            self._cursor["deletes_from"] = covered.isoformat()
        for n, (sid, when) in enumerate(ids, start=1):
            if n == len(ids):
                # Set with the last one, so it is committed with the batch that holds it.
                self._cursor["deletes_from"] = covered.isoformat()
            self._read += 1
            yield SourceRecord(sid, {}, when, True, self._read)
