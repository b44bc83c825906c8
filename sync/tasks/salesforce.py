"""Salesforce tasks: one per stream, full or incremental, resuming the stream's stopped run."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from connectors import TransientSourceError
from connectors.salesforce import is_transient
from models import ensure_schema
from sync.jobs import resume_salesforce, sync_salesforce
from sync.pipeline import RunFailedError, StreamBusy, set_task
from sync.settings import get_settings
from sync.tasks._base import RunTask


def _sync(task: RunTask, stream: str, full: bool, trigger: str, run_id: str | None) -> dict[str, Any]:
    settings = get_settings()
    try:
        if run_id:
            # Queued by the CLI (or re-applied): carry that very run.
            set_task(ensure_schema(settings.database_url), run_id, task.request.id)
            summary = resume_salesforce(settings, run_id, token=task.request.id)
        else:
            summary = sync_salesforce(
                settings,
                stream=stream,
                full=full,
                trigger=trigger,
                token=task.request.id,
                task_id=task.request.id,
            )
    except StreamBusy as exc:
        # The stream's own stopped run is being carried on elsewhere: nothing to add.
        return {"status": "running", "note": str(exc)}
    except Exception as exc:
        # A run the source broke off is recorded failed and raised as RunFailedError, chained
        # to what the client raised: that cause decides whether a later try can help.
        cause = exc.__cause__ if isinstance(exc, RunFailedError) and exc.__cause__ else exc
        if is_transient(cause):
            # Past the client's own retries: the task tries again later, from the cursor.
            raise TransientSourceError(f"salesforce: {type(cause).__name__}") from exc
        raise
    # A paused run (quota, budget, a Bulk job still running) is resumed by the next tick.
    return summary.as_dict()


@shared_task(name="sync.salesforce.contacts", base=RunTask, bind=True)
def sync_salesforce_contacts(
    self: RunTask, full: bool = False, trigger: str = "operator", run_id: str | None = None
) -> dict[str, Any]:
    """Sync Salesforce Contacts into customers (incremental unless `full`), or carry `run_id` on."""
    return _sync(self, "contacts", full, trigger, run_id)


@shared_task(name="sync.salesforce.orders", base=RunTask, bind=True)
def sync_salesforce_orders(
    self: RunTask, full: bool = False, trigger: str = "operator", run_id: str | None = None
) -> dict[str, Any]:
    """Sync Salesforce Orders into orders (incremental unless `full`), or carry `run_id` on."""
    return _sync(self, "orders", full, trigger, run_id)
