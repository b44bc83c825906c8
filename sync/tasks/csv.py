"""CSV tasks: import a file (fanning a big one out), and load one chunk of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from celery import shared_task
from sqlalchemy.engine import Engine

from connectors import FatalSourceError
from models import SyncRun, ensure_schema
from sync.jobs import FanOut, queue_csv, record_unusable_csv, run_csv, run_csv_chunk
from sync.pipeline import StreamBusy, fail_chunk, set_task
from sync.settings import Settings, get_settings
from sync.tasks._base import RunTask, SliceTask, run_id_for


class CsvImportTask(RunTask):
    def run_of(self, args: tuple[Any, ...], kwargs: dict[str, Any], task_id: str) -> str | None:
        return str(kwargs.get("run_id") or run_id_for(task_id))


class CsvChunkTask(SliceTask):
    def fail_slice(self, engine: Engine, run_id: str, index: int, error: str) -> None:
        fail_chunk(engine, run_id, index, error)


@shared_task(name="sync.csv.import", base=CsvImportTask, bind=True)
def import_csv_file(
    self: RunTask,
    path: str,
    kind: str = "customers",
    preset: str | None = None,
    mapping: str | None = None,
    source_name: str | None = None,
    run_id: str | None = None,
    trigger: str = "operator",
    timezone: str | None = None,
) -> dict[str, Any]:
    """Import one CSV file under `run_id`; re-applied with the same arguments, it resumes."""
    settings = get_settings()
    run_id = run_id or run_id_for(self.request.id)
    mapping_path = Path(mapping) if mapping else None
    try:
        queue_csv(
            settings,
            Path(path),
            kind=kind,
            preset_name=preset,
            mapping=mapping_path,
            source_name=source_name,
            trigger=trigger,
            run_id=run_id,
            task_id=self.request.id,
            timezone=timezone,
        )
    except FatalSourceError as exc:
        record_unusable_csv(
            settings,
            run_id,
            Path(path),
            kind=kind,
            preset_name=preset,
            mapping=mapping_path,
            source_name=source_name,
            trigger=trigger,
            task_id=self.request.id,
            error=str(exc),
            timezone=timezone,
        )
        raise
    return continue_csv(self, settings, run_id)


def continue_csv(task: RunTask, settings: Settings, run_id: str) -> dict[str, Any]:
    """Run a recorded CSV run under `task`: in this task, or fanned out into chunk tasks."""
    engine = ensure_schema(settings.database_url)
    set_task(engine, run_id, task.request.id)
    try:
        outcome = run_csv(settings, run_id, token=task.request.id, fan_out=True)
    except StreamBusy as exc:
        if exc.holder == run_id:
            return {"run_id": run_id, "status": "running", "note": str(exc)}
        raise task.retry(exc=exc, countdown=settings.run_lease_seconds) from None
    if isinstance(outcome, FanOut):
        for chunk in outcome.chunks:
            task.app.send_task(
                "sync.csv.chunk",
                kwargs={"run_id": run_id, "index": chunk.index, "start": chunk.start, "end": chunk.end},
            )
        if not outcome.chunks:
            task.app.send_task("sync.run.finish", kwargs={"run_id": run_id})
        return {"run_id": run_id, "status": "running", "chunks": len(outcome.chunks)}
    return outcome.as_dict()


@shared_task(name="sync.csv.chunk", base=CsvChunkTask, bind=True)
def load_csv_chunk(self: RunTask, run_id: str, index: int, start: int, end: int) -> dict[str, Any]:
    """Load rows `start`..`end` (bytes) of a fanned-out run's file, from the chunk's checkpoint."""
    settings = get_settings()
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        owner = conn.execute(sa.select(runs.c.task_id).where(runs.c.id == run_id)).scalar()
    if owner is None:
        raise FatalSourceError(f"run {run_id} was not fanned out by a worker")
    try:
        last = run_csv_chunk(settings, run_id, index, str(owner), (start, end))
    except StreamBusy as exc:
        raise self.retry(exc=exc, countdown=settings.run_lease_seconds) from None
    if last:
        self.app.send_task("sync.run.finish", kwargs={"run_id": run_id})
    return {"run_id": run_id, "index": index, "last": last}
