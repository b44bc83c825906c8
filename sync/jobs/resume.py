"""Resuming a stopped run (failed, paused, or left `running` by a process that died)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from connectors import FatalSourceError
from models import SyncRun, ensure_schema
from models.enums import RunStatus
from sync.jobs.csv import resume_csv
from sync.pipeline import RunSummary
from sync.settings import Settings


def resume_run(
    settings: Settings,
    run_id: str,
    *,
    force: bool = False,
    on_batch: Callable[[Any, dict[str, int]], None] | None = None,
) -> RunSummary:
    """Carry `run_id` on from its checkpoint; FatalSourceError says why it cannot be.

    A run still marked `running` may be alive in another process, so it is resumed only with
    `force` (the operator knows its process died).
    """
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(
            sa.select(runs.c.source, runs.c.status, runs.c.params).where(runs.c.id == run_id)
        ).first()
    if run is None:
        raise FatalSourceError(f"no run {run_id!r}")
    if run.status == RunStatus.SUCCEEDED:
        raise FatalSourceError(f"run {run_id} already succeeded; nothing to resume")
    if run.status == RunStatus.RUNNING and not force:
        raise FatalSourceError(
            f"run {run_id} is marked running; if its process is gone, resume it with --force"
        )
    params = run.params or {}
    if "path" in params:
        return resume_csv(settings, run_id, on_batch=on_batch)
    if run.source == "spotify" and params.get("refresh"):
        # Imported here: spotipy loads only when a Spotify job runs.
        from sync.jobs.spotify import sync_spotify

        return sync_spotify(settings, link_ids=params.get("link_ids"), run_id=run_id)
    raise FatalSourceError(
        f"run {run_id} reads from {run.source}: `customer-sync sync {run.source}` resumes its newest stopped run"
    )
