"""Run tasks: close a fanned-out run, and re-run a stopped one from its checkpoint."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from celery import shared_task

from connectors import FatalSourceError
from models import SyncRun, ensure_schema
from models.enums import RunStatus
from sync.jobs import BulkFanOut, fan_out_salesforce, finish_salesforce_pages, resume_run
from sync.pipeline import StreamBusy, finish_chunked_run, holder_of
from sync.settings import get_settings
from sync.tasks._base import RunTask
from sync.tasks.csv import continue_csv
from sync.tasks.salesforce import send_pages, transient_as_such


@shared_task(name="sync.run.finish", base=RunTask, bind=True)
def finish_run_task(self: RunTask, run_id: str) -> dict[str, Any]:
    """Close a fanned-out run once all its chunks (or Bulk pages) are done (idempotent)."""
    settings = get_settings()
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        checkpoint = conn.execute(sa.select(runs.c.checkpoint).where(runs.c.id == run_id)).scalar() or {}
    if checkpoint.get("pages") or checkpoint.get("paged"):
        # What a Bulk run reads after its pages (deletes), under this task's own lease.
        return transient_as_such(lambda: finish_salesforce_pages(settings, run_id, self.request.id)).as_dict()
    return {"run_id": run_id, "status": finish_chunked_run(engine, run_id)}


class RunRetryTask(RunTask):
    fails_stopped_runs = True


@shared_task(name="sync.run.retry", base=RunRetryTask, bind=True)
def retry_run(self: RunTask, run_id: str) -> dict[str, Any]:
    """Carry a failed, paused or abandoned run on from its checkpoint, whatever its source."""
    settings = get_settings()
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    if run is None:
        raise FatalSourceError(f"no run {run_id!r}")
    if run["status"] in (RunStatus.SUCCEEDED, RunStatus.SKIPPED):
        return {"run_id": run_id, "status": run["status"]}
    held = holder_of(engine, run["source"], run["stream"])
    if held is not None and held[0] == run_id and held[1] != self.request.id:
        # Its owner is alive and will finish it; a second owner would count batches twice.
        return {"run_id": run_id, "status": RunStatus.RUNNING, "note": "still running elsewhere"}
    try:
        if "path" in (run["params"] or {}):
            return continue_csv(self, settings, run_id)
        if run["source"] == "salesforce":
            outcome = transient_as_such(
                lambda: fan_out_salesforce(settings, run_id=run_id, task_id=self.request.id)
            )
            if isinstance(outcome, BulkFanOut):
                send_pages(self, run_id, outcome.pages)
                return {"run_id": run_id, "status": RunStatus.RUNNING, "pages": len(outcome.pages)}
            return outcome.as_dict()
        # Any other source resumes as `customer-sync runs resume` does it.
        return resume_run(settings, run_id).as_dict()
    except StreamBusy as exc:
        raise self.retry(exc=exc, countdown=settings.run_lease_seconds) from None
