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
from connectors.salesforce.client import SalesforceClient, TruncatedAnswer

log = structlog.get_logger("connectors.salesforce")

_DONE = "JobComplete"
_DEAD = frozenset({"Failed", "Aborted"})


class BulkJobGone(Exception):  # noqa: N818 - a state of the job, not a failure of ours
    """The job is gone, failed or was aborted; its results cannot be read."""


class BulkJobRunning(PauseRun):
    """The job was still running when the wait for it ran out; the run may wait again later."""


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

    Raises BulkJobRunning (a PauseRun) when it runs longer than `timeout`, so the worker is
    not held.
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
            raise BulkJobRunning(f"salesforce: Bulk job {job_id} still {state}", retry_after=poll)
        time.sleep(poll)


def read_page(
    client: SalesforceClient, sobject: str, job_id: str, locator: str, *, page_size: int
) -> ResultPage:
    """The result page at `locator` ("" for the first); a redelivered task reads it again alike.

    Raises TruncatedAnswer (transient) when the page holds fewer rows than Salesforce said.
    """

    def fetch(sf: Salesforce) -> Any:
        result = _jobs(sf, sobject).get_query_results(job_id, locator, page_size)
        rows = list(csv.DictReader(io.StringIO(result["records"])))
        if len(rows) != int(result["number_of_records"]):
            # Quoted newlines can hide a cut inside a cell; the count Salesforce sent cannot lie.
            raise TruncatedAnswer(
                f"Bulk job {job_id}: page has {len(rows)} of {result['number_of_records']} records"
            )
        return ResultPage(locator, result["locator"] or "", rows)

    try:
        page: ResultPage = client.call("bulk2 results", fetch)
    except SalesforceResourceNotFound:
        raise BulkJobGone(f"Bulk job {job_id}: results are gone") from None
    return page


def read_pages(
    client: SalesforceClient, sobject: str, job_id: str, locator: str, *, page_size: int
) -> Iterator[ResultPage]:
    """Result pages from `locator` ("" for the first) to the last."""
    while True:
        page = read_page(client, sobject, job_id, locator, page_size=page_size)
        yield page
        if not page.next_locator:
            return
        locator = page.next_locator
