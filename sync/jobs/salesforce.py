"""Syncing a Salesforce stream: resume its paused or failed run, or open a new one, and run it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors import FatalSourceError
from connectors.salesforce import STREAMS, Reconciler, SalesforceStream, auth_mode
from models import CustomerSource, SyncRun, ensure_schema
from models.enums import RunStatus
from sync.jobs import salesforce_bulk
from sync.jobs.salesforce_bulk import BulkFanOut
from sync.load import drop, stage, temp_table
from sync.mapping import MappingSpec
from sync.pipeline import PagePlan, RunSummary, create_run, execute_run, new_run_id, set_task
from sync.settings import Settings

_live_ids = temp_table("stage_live_ids", sa.Column("source_id", sa.String, primary_key=True))


def missing_from(engine: Engine, source: str) -> Reconciler:
    """Ids the store holds live for `source` that the org no longer lists (set-wise)."""

    def missing(live: Iterable[str]) -> list[str]:
        cs = CustomerSource.__table__  # type: ignore[attr-defined]
        with engine.begin() as conn:
            stage(conn, _live_ids, ({"source_id": i} for i in set(live)))
            rows = conn.execute(
                sa.select(cs.c.source_id)
                .where(cs.c.source == source, cs.c.deleted.is_(False))
                .where(~sa.exists().where(_live_ids.c.source_id == cs.c.source_id))
                .order_by(cs.c.source_id)
            ).scalars()
            found = list(rows)
            drop(conn, _live_ids)
        return found

    return missing


def run_stream_name(stream: SalesforceStream) -> str:
    """The `sync_run.stream` value `create_run` records for this stream."""
    return stream.name if stream.kind == "customers" else f"{stream.name}:{stream.kind}"


def resumable_run(engine: Engine, stream: SalesforceStream) -> str | None:
    """The stream's newest run, when it is paused or failed and so should be carried on."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        newest = conn.execute(
            sa.select(runs.c.id, runs.c.status)
            .where(runs.c.source == stream.source_name, runs.c.stream == run_stream_name(stream))
            .order_by(runs.c.started_at.desc())
            .limit(1)
        ).first()
    if newest is not None and newest.status in (RunStatus.PAUSED, RunStatus.FAILED):
        return str(newest.id)
    return None


def mapping_spec(stream: SalesforceStream) -> MappingSpec:
    """How a stream's rows map: its documented fields, keyed by `Id`, stamped by `SystemModstamp`."""
    return MappingSpec(
        kind=stream.kind,
        fields=stream.fields,
        id_columns=["Id"],
        modstamp_columns=["SystemModstamp"],
        deleted_columns=["IsDeleted"],
    )


def sync_salesforce(
    settings: Settings,
    *,
    stream: str = "contacts",
    full: bool = False,
    trigger: str = "cli",
    session: requests.Session | None = None,
    token: str | None = None,
    task_id: str | None = None,
) -> RunSummary:
    """Sync one Salesforce stream into the store and return the run summary.

    Resumes the stream's newest run if it is paused or failed; otherwise opens a new run,
    `full` or incremental. A run stopped by the quota or the API budget ends `paused`; one
    that finds another run holding the stream ends `skipped`. `token` and `task_id` name the
    Celery task carrying the run (the lease's owner). Raises FatalSourceError, before any
    run is recorded, for an unknown stream or no credentials.
    """
    if stream not in STREAMS:
        raise FatalSourceError(f"unknown Salesforce stream {stream!r}; choose from {', '.join(STREAMS)}")
    engine = ensure_schema(settings.database_url)
    source = STREAMS[stream]
    reader = source(settings.salesforce, session=session, reconcile=missing_from(engine, source.source))
    run_id = resumable_run(engine, reader)
    if run_id is None:
        run_id = create_run(
            engine,
            reader,
            entity_kind=reader.kind,
            mode="full" if full else "incremental",
            trigger=trigger,
            task_id=task_id,
        )
    elif task_id:
        set_task(engine, run_id, task_id)
    outcome = _carry(engine, settings, reader, run_id, full=full, token=token, fan_out=False, session=session)
    assert isinstance(outcome, RunSummary)  # without fan_out it always runs here
    return outcome


def fan_out_salesforce(
    settings: Settings,
    *,
    stream: str = "contacts",
    full: bool = False,
    trigger: str = "operator",
    run_id: str | None = None,
    task_id: str,
) -> RunSummary | BulkFanOut:
    """What a worker's stream task does: as `sync_salesforce` (or carrying `run_id` on), but a
    run read through Bulk 2.0 comes back as its result pages, one task each.

    `task_id` owns the run's lease; the page tasks load under it.
    """
    if run_id is None:
        if stream not in STREAMS:
            raise FatalSourceError(f"unknown Salesforce stream {stream!r}; choose from {', '.join(STREAMS)}")
        engine = ensure_schema(settings.database_url)
        source = STREAMS[stream]
        reader = source(settings.salesforce, reconcile=missing_from(engine, source.source))
        run_id = resumable_run(engine, reader) or create_run(
            engine,
            reader,
            entity_kind=reader.kind,
            mode="full" if full else "incremental",
            trigger=trigger,
            task_id=task_id,
        )
    engine = ensure_schema(settings.database_url)
    set_task(engine, run_id, task_id)
    reader = _reader(settings, engine, run_id)
    return _carry(engine, settings, reader, run_id, full=full, token=task_id, fan_out=True, session=None)


def _carry(
    engine: Engine,
    settings: Settings,
    reader: SalesforceStream,
    run_id: str,
    *,
    full: bool,
    token: str | None,
    fan_out: bool,
    session: requests.Session | None,
) -> RunSummary | BulkFanOut:
    """Run `run_id` to its end here, or (`fan_out`) hand its Bulk pages to other tasks."""
    token = token or new_run_id()
    spec = mapping_spec(reader)
    if fan_out:
        outcome = salesforce_bulk.fan_out(engine, settings, reader, run_id, token)
        if outcome is not None:
            return outcome
    elif _paged(engine, run_id):
        # Fanned out by a worker once: its pages are loaded here, then it is closed.
        return salesforce_bulk.run_pages_here(
            engine, settings, lambda: _reader(settings, engine, run_id, session), spec, run_id, token
        )
    return execute_run(engine, settings, reader, spec, run_id, full=full, token=token)


def _paged(engine: Engine, run_id: str) -> bool:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
    return salesforce_bulk.is_paged(run)


def _reader(
    settings: Settings, engine: Engine, run_id: str, session: requests.Session | None = None
) -> SalesforceStream:
    """A reader of the stream `run_id` reads."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs.c.stream).where(runs.c.id == run_id)).one()
    name = str(run.stream).split(":", 1)[0]
    if name not in STREAMS:
        raise FatalSourceError(f"run {run_id} reads an unknown Salesforce stream {run.stream!r}")
    source = STREAMS[name]
    return source(settings.salesforce, session=session, reconcile=missing_from(engine, source.source))


def load_salesforce_page(
    settings: Settings,
    run_id: str,
    plan: PagePlan,
    send: Callable[[PagePlan], None],
    waited: float | None = None,
) -> bool:
    """Load one result page of a fanned-out run; True when no page is left to load.

    `waited`: as `salesforce_bulk.load_page` (BulkJobPending while page 0's job runs).
    """
    engine = ensure_schema(settings.database_url)
    reader = _reader(settings, engine, run_id)
    return salesforce_bulk.load_page(
        engine, settings, reader, mapping_spec(reader), run_id, plan, send, waited=waited
    )


def finish_salesforce_pages(settings: Settings, run_id: str, token: str) -> RunSummary:
    """Close a fanned-out run once its pages are loaded: deletes, watermark, totals."""
    engine = ensure_schema(settings.database_url)
    reader = _reader(settings, engine, run_id)
    return salesforce_bulk.finish(engine, settings, reader, mapping_spec(reader), run_id, token)


def queue_salesforce(
    settings: Settings, *, stream: str = "contacts", full: bool = False, trigger: str = "cli"
) -> str:
    """The run a worker should carry on for `stream`: its stopped run, or a new `queued` one.

    Raises FatalSourceError, before any run is recorded, for an unknown stream or no credentials.
    """
    if stream not in STREAMS:
        raise FatalSourceError(f"unknown Salesforce stream {stream!r}; choose from {', '.join(STREAMS)}")
    auth_mode(settings.salesforce)
    engine = ensure_schema(settings.database_url)
    source = STREAMS[stream]
    reader = source(settings.salesforce, reconcile=missing_from(engine, source.source))
    return resumable_run(engine, reader) or create_run(
        engine,
        reader,
        entity_kind=reader.kind,
        mode="full" if full else "incremental",
        trigger=trigger,
        status=RunStatus.QUEUED,
    )


def resume_salesforce(
    settings: Settings,
    run_id: str,
    *,
    token: str | None = None,
    session: requests.Session | None = None,
) -> RunSummary:
    """Carry one stopped Salesforce run on from its committed cursor (or its pages)."""
    engine = ensure_schema(settings.database_url)
    reader = _reader(settings, engine, run_id, session)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        mode = conn.execute(sa.select(runs.c.mode).where(runs.c.id == run_id)).scalar_one()
    outcome = _carry(
        engine, settings, reader, run_id, full=mode == "full", token=token, fan_out=False, session=session
    )
    assert isinstance(outcome, RunSummary)  # without fan_out it always runs here
    return outcome
