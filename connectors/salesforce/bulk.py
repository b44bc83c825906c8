"""Bulk API 2.0 query jobs: create, wait, and read result pages from a locator (resumable)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from connectors.base import PauseRun
from connectors.salesforce.client import SalesforceClient

log = structlog.get_logger("connectors.salesforce")

_DONE = "JobComplete"
_DEAD = frozenset({"Failed", "Aborted"})


class BulkJobGone(Exception):  # noqa: N818 - a state of the job, not a failure of ours
    """The job is gone, failed or was aborted; its results cannot be read."""


@dataclass(slots=True)
class ResultPage:
    """One page of a job's results: where it was read from, where the next starts, its rows."""

    locator: str
    next_locator: str
    rows: list[dict[str, str]]


def _jobs(sf: Salesforce, sobject: str) -> Any:
    # simple-salesforce's query() waits 5 s before its first poll and hides the job id and the
    # locators; its job client exposes the single steps a resumable read needs.
    return getattr(sf.bulk2, sobject)._client


def start_job(client: SalesforceClient, sobject: str, soql: str, *, include_deleted: bool) -> str:
    operation = "queryAll" if include_deleted else "query"
    job = client.call("bulk2 create", lambda sf: _jobs(sf, sobject).create_job(operation, soql))
    log.info("salesforce.bulk_job", job_id=job["id"], sobject=sobject)
    return str(job["id"])


def wait_for_job(client: SalesforceClient, sobject: str, job_id: str, *, poll: float, timeout: float) -> None:
    """Wait until the job completes; BulkJobGone when it is gone, failed or aborted.

    Raises PauseRun when it runs longer than `timeout`, so the worker is not held.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = client.call("bulk2 poll", lambda sf: _jobs(sf, sobject).get_job(job_id, True))
        except SalesforceResourceNotFound:
            raise BulkJobGone(f"Bulk job {job_id} not found") from None
        state = info.get("state")
        if state == _DONE:
            return
        if state in _DEAD:
            raise BulkJobGone(f"Bulk job {job_id} {state}: {info.get('errorMessage')}")
        if time.monotonic() >= deadline:
            raise PauseRun(f"salesforce: Bulk job {job_id} still {state}", retry_after=poll)
        time.sleep(poll)


def read_pages(
    client: SalesforceClient, sobject: str, job_id: str, locator: str, *, page_size: int
) -> Iterator[ResultPage]:
    """Result pages from `locator` ("" for the first) to the last."""
    while True:
        current = locator

        def fetch(sf: Salesforce, current: str = current) -> Any:
            return _jobs(sf, sobject).get_query_results(job_id, current, page_size)

        try:
            result = client.call("bulk2 results", fetch)
        except SalesforceResourceNotFound:
            raise BulkJobGone(f"Bulk job {job_id}: results are gone") from None
        rows = list(csv.DictReader(io.StringIO(result["records"])))
        yield ResultPage(current, result["locator"], rows)
        if not result["locator"]:
            return
        locator = result["locator"]
