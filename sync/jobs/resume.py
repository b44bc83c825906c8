"""Resuming a stopped run (failed, paused, or left `running` by a process that died)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from connectors import FatalSourceError
from models import SyncRun, ensure_schema
from models.enums import RunStatus
from sync.jobs.csv import resume_csv
from sync.pipeline import RunSummary, StreamBusy, lease_expiry, resolve_run_id, still_held
from sync.settings import Settings


def resume_run(
    settings: Settings,
    run_id: str,
    *,
    force: bool = False,
    on_batch: Callable[[Any, dict[str, int]], None] | None = None,
) -> RunSummary:
    """Carry `run_id` on from its checkpoint; FatalSourceError says why it cannot be.

    A run whose lease is live is refused (StreamBusy, saying when it expires): resuming it
    beside a live owner would count its batches twice. Once the owner is gone its lease runs out
    (RUN_LEASE_SECONDS) and the run resumes; `force` is no longer needed for that.
    """
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run_id = resolve_run_id(conn, run_id)
        run = conn.execute(
            sa.select(runs.c.source, runs.c.stream, runs.c.status, runs.c.params).where(runs.c.id == run_id)
        ).first()
    if run is None:
        raise FatalSourceError(f"no run {run_id!r}")
    if run.status in (RunStatus.SUCCEEDED, RunStatus.SKIPPED):
        raise FatalSourceError(f"run {run_id} already {run.status}; nothing to resume")
    expires_at = lease_expiry(engine, run.source, run.stream, run_id)
    if expires_at is not None:
        raise StreamBusy(run_id, f"{still_held(run_id, expires_at)}; nothing done")
    params = run.params or {}
    if "path" in params:
        return resume_csv(settings, run_id, on_batch=on_batch)
    if run.source == "spotify" and params.get("refresh"):
        # Imported here: spotipy loads only when a Spotify job runs.
        from sync.jobs.spotify import sync_spotify

        return sync_spotify(settings, link_ids=params.get("link_ids"), run_id=run_id)
    if run.source == "salesforce":
        from sync.jobs.salesforce import resume_salesforce

        return resume_salesforce(settings, run_id)
    raise FatalSourceError(
        f"run {run_id} reads from {run.source}: `customer-sync sync {run.source}` resumes its newest stopped run"
    )
