"""Syncing a Salesforce stream: resume its paused or failed run, or open a new one, and run it."""

from __future__ import annotations

from collections.abc import Iterable

import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors import FatalSourceError
from connectors.salesforce import STREAMS, Reconciler, SalesforceStream, auth_mode
from models import CustomerSource, SyncRun, ensure_schema
from models.enums import RunStatus
from sync.load import drop, stage, temp_table
from sync.mapping import MappingSpec
from sync.pipeline import RunSummary, create_run, execute_run, set_task
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
    return execute_run(engine, settings, reader, mapping_spec(reader), run_id, full=full, token=token)


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
    settings: Settings, run_id: str, *, token: str | None = None, session: requests.Session | None = None
) -> RunSummary:
    """Carry one stopped Salesforce run on from its committed cursor."""
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs.c.stream).where(runs.c.id == run_id)).one()
    name = str(run.stream).split(":", 1)[0]
    if name not in STREAMS:
        raise FatalSourceError(f"run {run_id} reads an unknown Salesforce stream {run.stream!r}")
    source = STREAMS[name]
    reader = source(settings.salesforce, session=session, reconcile=missing_from(engine, source.source))
    return execute_run(engine, settings, reader, mapping_spec(reader), run_id, token=token)
