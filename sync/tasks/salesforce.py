"""Salesforce tasks: one per stream, full or incremental, and one per Bulk result page of a big run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from celery import shared_task
from sqlalchemy.engine import Engine

from connectors import TransientSourceError
from connectors.salesforce import is_transient
from sync.jobs import BulkFanOut, BulkJobPending, fan_out_salesforce, load_salesforce_page
from sync.pipeline import PagePlan, RunFailedError, StreamBusy, fail_page
from sync.settings import get_settings
from sync.tasks._base import RunTask, SliceTask

T = TypeVar("T")


def transient_as_such(call: Callable[[], T]) -> T:
    """Run `call`; a failure the source may get over is raised as TransientSourceError (retried)."""
    try:
        return call()
    except Exception as exc:
        # A run the source broke off is recorded failed and raised as RunFailedError, chained
        # to what the client raised: that cause decides whether a later try can help.
        cause = exc.__cause__ if isinstance(exc, RunFailedError) and exc.__cause__ else exc
        if is_transient(cause):
            # Past the client's own retries: the task tries again later, from the checkpoint.
            said = str(exc) if isinstance(exc, RunFailedError) else type(cause).__name__
            raise TransientSourceError(f"salesforce: {said}") from exc
        raise


def send_pages(task: RunTask, run_id: str, pages: list[PagePlan]) -> None:
    """Send a fanned-out run's pages, or its close when every page is loaded already."""
    for page in pages:
        task.app.send_task(
            "sync.salesforce.page", kwargs={"run_id": run_id, "index": page.index, "locator": page.locator}
        )
    if not pages:
        task.app.send_task("sync.run.finish", kwargs={"run_id": run_id})


def _sync(task: RunTask, stream: str, full: bool, trigger: str, run_id: str | None) -> dict[str, Any]:
    settings = get_settings()
    try:
        outcome = transient_as_such(
            lambda: fan_out_salesforce(
                settings, stream=stream, full=full, trigger=trigger, run_id=run_id, task_id=task.request.id
            )
        )
    except StreamBusy as exc:
        # The stream's own stopped run is being carried on elsewhere: nothing to add.
        return {"status": "running", "note": str(exc)}
    if isinstance(outcome, BulkFanOut):
        send_pages(task, outcome.run_id, outcome.pages)
        return {"run_id": outcome.run_id, "status": "running", "pages": len(outcome.pages)}
    # A paused run (quota, budget, a Bulk job still running) is resumed by the next tick.
    return outcome.as_dict()


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


class SalesforcePageTask(SliceTask):
    def fail_slice(self, engine: Engine, run_id: str, index: int, error: str) -> None:
        fail_page(engine, run_id, index, error)


@shared_task(name="sync.salesforce.page", base=SalesforcePageTask, bind=True)
def load_salesforce_result_page(
    self: RunTask, run_id: str, index: int, locator: str, waited: float = 0.0
) -> dict[str, Any]:
    """Read result page `index` of a fanned-out run's Bulk job at `locator`, send the next, load it.

    A fault on the page (5xx, 429, a page cut short) retries this task only, from the
    page's checkpoint; the pages before it stay loaded. Page 0 first waits for the job:
    while it runs, the page is sent again with a countdown (`waited`, the seconds waited so
    far), up to SALESFORCE_BULK_WAIT_SECONDS in all; then the run pauses for the next tick.
    """
    settings = get_settings()

    def send(page: PagePlan) -> None:
        self.app.send_task(
            "sync.salesforce.page", kwargs={"run_id": run_id, "index": page.index, "locator": page.locator}
        )

    try:
        last = transient_as_such(
            lambda: load_salesforce_page(settings, run_id, PagePlan(index, locator), send, waited)
        )
    except BulkJobPending as exc:
        # A fresh message rather than a retry: waiting is no fault, so it must not use up
        # the retries a 5xx or a 429 on this page may need later.
        self.app.send_task(
            "sync.salesforce.page",
            kwargs={"run_id": run_id, "index": index, "locator": locator, "waited": exc.waited},
            countdown=exc.countdown,
        )
        return {"run_id": run_id, "index": index, "last": False, "waited": exc.waited}
    except StreamBusy as exc:
        raise self.retry(exc=exc, countdown=settings.run_lease_seconds) from None
    except TransientSourceError as exc:
        if exc.retry_after:
            # Not before the org said; capped, as every back-off, below the visibility timeout.
            wait = min(exc.retry_after, settings.celery_retry_backoff_max_seconds)
            raise self.retry(exc=exc, countdown=wait) from None
        raise  # retried with the task's back-off
    if last:
        self.app.send_task("sync.run.finish", kwargs={"run_id": run_id})
    return {"run_id": run_id, "index": index, "last": last}
