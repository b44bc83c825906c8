"""Bulk API 2.0 query jobs: create, poll, page through CSV results, abort and delete."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from ..soql import SoqlError, SoqlQuery, id18
from .faults import RecordedRequest, _Response
from .org import FakeOrg
from .wire import _NOT_FOUND, _csv_value, _error, _json, format_datetime


@dataclass
class _BulkJob:
    id: str
    operation: str
    sobject: str
    query: SoqlQuery | None
    api_version: str
    created: dt.datetime
    column_delimiter: str
    line_ending: str
    state: str = "UploadComplete"
    polls: int = 0
    error_message: str | None = None
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def info(self, *, brief: bool = False) -> dict[str, Any]:
        stamp = format_datetime(self.created)
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": FakeOrg.user_id,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if brief:
            return info
        info["jobType"] = "V2Query"
        if self.error_message:
            info["errorMessage"] = self.error_message
        info["numberRecordsProcessed"] = len(self.rows)
        info["retries"] = 0
        info["totalProcessingTime"] = 0 if self.state != "JobComplete" else 412
        if self.state != "Failed":
            info["isPkChunkingSupported"] = True
        return info


_DELIMITERS = {
    "BACKQUOTE": "`",
    "CARET": "^",
    "COMMA": ",",
    "PIPE": "|",
    "SEMICOLON": ";",
    "TAB": "\t",
}
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


class BulkQueryJobs:
    """The ``/jobs/query`` resources of the REST API."""

    org: FakeOrg
    bulk_polls_to_complete: int
    bulk_default_max_records: int
    _lock: threading.RLock
    _ids: itertools.count[int]
    _jobs: dict[str, _BulkJob]
    _job_failures: list[str]

    def fail_next_bulk_job(self, message: str = "UNKNOWN_EXCEPTION: an internal error") -> None:
        """The next Bulk 2.0 query job created ends in state Failed with ``message``."""
        with self._lock:
            self._job_failures.append(message)

    def bulk_job(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.info() if job else None

    # Bulk API 2.0 query jobs
    def _bulk(self, request: RecordedRequest, version: str, parts: list[str]) -> _Response:
        method = request.method
        if not parts:
            if method == "POST":
                return self._create_job(request, version)
            if method == "GET":
                records = [job.info() for job in self._jobs.values()]
                return _json(200, {"done": True, "records": records, "nextRecordsUrl": None})
            return _error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
        job = self._jobs.get(parts[0])
        if job is None:
            return _error(404, *_NOT_FOUND)
        if len(parts) == 2 and parts[1] == "results" and method == "GET":
            return self._job_results(request, job, version)
        if len(parts) == 1 and method == "GET":
            self._poll(job)
            return _json(200, job.info())
        if len(parts) == 1 and method == "PATCH":
            return self._abort_job(request, job)
        if len(parts) == 1 and method == "DELETE":
            if job.state in ("UploadComplete", "InProgress"):
                return _error(400, "INVALIDJOB", f"Cannot delete a job in state {job.state}")
            del self._jobs[job.id]
            return _Response(204)
        return _error(404, *_NOT_FOUND)

    def _create_job(self, request: RecordedRequest, version: str) -> _Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as exc:
            return _error(400, "JSON_PARSER_ERROR", f"Invalid JSON: {exc}")
        if not isinstance(body, dict):
            return _error(400, "JSON_PARSER_ERROR", "Invalid JSON: expected an object")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in _DELIMITERS or line_ending not in _LINE_ENDINGS:
            return _error(400, "INVALIDJOB", "InvalidJob : invalid columnDelimiter or lineEnding")
        soql = body.get("query") or ""
        failure: str | None = None
        query: SoqlQuery | None = None
        sobject_match = re.search(r"\bfrom\s+(\w+)", soql, re.IGNORECASE)
        sobject = sobject_match.group(1) if sobject_match else ""
        try:
            query = self.org.parse(soql)
            sobject = query.sobject
        except SoqlError as exc:
            if exc.error_code != "INVALID_FIELD":
                return _error(400, exc.error_code, exc.message)
            # As the fixture shows, a bad column fails the job rather than its creation.
            detail = exc.message.rsplit("\n", 1)[-1].split(". If you", 1)[0]
            failure = f"INVALID_FIELD: {detail}."
        if query is not None and (query.count_only or query.offset is not None):
            return _error(400, "API_ERROR", "Aggregate queries and OFFSET are not supported")
        if self._job_failures and failure is None:
            failure = self._job_failures.pop(0)
        job = _BulkJob(
            id=id18(f"7505g00000{next(self._ids):05d}"),
            operation=operation,
            sobject=sobject,
            query=query,
            api_version=version,
            created=self.org.now(),
            column_delimiter=delimiter,
            line_ending=line_ending,
            error_message=failure,
        )
        self._jobs[job.id] = job
        return _json(200, job.info(brief=True))

    def _poll(self, job: _BulkJob) -> None:
        if job.state not in ("UploadComplete", "InProgress"):
            return
        job.polls += 1
        if job.polls < self.bulk_polls_to_complete:
            job.state = "InProgress"
        elif job.error_message is not None:
            job.state = "Failed"
        else:
            assert job.query is not None
            schema = self.org.schema(job.sobject)
            assert schema is not None
            rows = self.org.run(job.query, include_deleted=job.operation == "queryAll")
            types = [schema.fields[name.lower()].type for name in job.query.fields]
            job.header = list(job.query.fields)
            job.rows = [
                [_csv_value(t, row.get(name)) for name, t in zip(job.header, types, strict=True)]
                for row in rows
            ]
            job.state = "JobComplete"

    def _job_results(self, request: RecordedRequest, job: _BulkJob, version: str) -> _Response:
        if version != job.api_version:
            return _error(409, "API_VERSION_MISMATCH", "Use the API version the job was created in")
        if job.state != "JobComplete":
            return _error(
                412,
                "JOB_NOT_COMPLETE",
                "can only download query results of successfully completed bulk job with "
                f"status: JOB_COMPLETE. Current status: {job.state}",
            )
        raw_max = request.param("maxRecords")
        if raw_max is not None and not (raw_max.isdigit() and int(raw_max) > 0):
            return _error(400, "INVALIDJOB", f"Invalid maxRecords: {raw_max}")
        page_size = int(raw_max) if raw_max else self.bulk_default_max_records
        offset = 0
        locator = request.param("locator")
        if locator:
            try:
                padded = locator + "=" * (-len(locator) % 4)
                offset = int(base64.b64decode(padded, validate=True).decode())
            except ValueError:
                offset = -1
            if not 0 <= offset <= len(job.rows):
                return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        page = job.rows[offset : offset + page_size]
        end = offset + len(page)
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=_DELIMITERS[job.column_delimiter],
            lineterminator=_LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(job.header)
        writer.writerows(page)
        # Locators look like Salesforce's: unpadded base64 ("MTAwMDA"), or the string "null".
        next_locator = "null"
        if end < len(job.rows):
            next_locator = base64.b64encode(str(end).encode()).decode().rstrip("=")
        headers = {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(page))}
        return _Response(200, buffer.getvalue().encode(), "text/csv", headers)

    def _abort_job(self, request: RecordedRequest, job: _BulkJob) -> _Response:
        try:
            state = json.loads(request.body or b"{}").get("state")
        except ValueError:
            state = None
        if state != "Aborted":
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid state: {state}")
        if job.state not in ("UploadComplete", "InProgress"):
            return _error(400, "INVALIDJOB", f"InvalidJob : Job is already {job.state}")
        job.state = "Aborted"
        return _json(200, job.info())
