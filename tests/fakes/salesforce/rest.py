"""The REST API: versions, query/queryAll and their paging, records, describe, limits, getUpdated/getDeleted."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..soql import SObjectSchema, SoqlError, id18, parse_datetime
from .auth import AuthEndpoints
from .bulk import BulkQueryJobs
from .faults import RecordedRequest, _Response
from .wire import _NOT_FOUND, _error, _floor_minute, _json, _json_value, format_datetime


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    batch_size: int


class RestApi(AuthEndpoints, BulkQueryJobs):
    """``/services/data``: sessions guard it and Bulk 2.0 query jobs live under it."""

    query_batch_size: int
    api_used: int
    api_limit: int
    enforce_api_limit: bool
    _cursors: dict[str, _Cursor]

    # API usage
    def set_api_usage(self, used: int | None = None, limit: int | None = None) -> None:
        with self._lock:
            if used is not None:
                self.api_used = used
            if limit is not None:
                self.api_limit = limit

    @property
    def limit_info(self) -> str:
        return f"api-usage={self.api_used}/{self.api_limit}"

    def expire_query_cursors(self) -> None:
        """Every open nextRecordsUrl answers INVALID_QUERY_LOCATOR, as after 15 idle minutes."""
        with self._lock:
            self._cursors.clear()

    def _rest(self, request: RecordedRequest) -> _Response:
        match = re.fullmatch(r"/services/data(?:/v(\d+\.\d+))?(/.*)?", request.path)
        if match is None:
            return _error(404, *_NOT_FOUND)
        version, rest = match.group(1), (match.group(2) or "/").strip("/")
        if version is None:
            return _json(
                200, [{"label": "Fake", "url": f"/services/data/v{self.version}", "version": self.version}]
            )
        with self._lock:
            self.api_used += 1
            over_limit = self.enforce_api_limit and self.api_used > self.api_limit
        auth = request.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme not in ("Bearer", "OAuth") or not self._token_valid(token):
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if over_limit:
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        parts = rest.split("/") if rest else []
        with self._lock, self.org.lock:
            return self._route(request, version, parts)

    def _route(self, request: RecordedRequest, version: str, parts: list[str]) -> _Response:
        method = request.method
        head = parts[0] if parts else ""
        if not parts and method == "GET":
            base = f"/services/data/v{version}"
            names = ("sobjects", "query", "queryAll", "limits", "jobs")
            return _json(200, {name: f"{base}/{name}" for name in names})
        if head in ("query", "queryAll") and method == "GET":
            if len(parts) == 1:
                return self._query(request, version, include_deleted=head == "queryAll")
            if len(parts) == 2:
                return self._query_more(parts[1], version)
        if head == "limits" and len(parts) == 1 and method == "GET":
            return self._limits()
        if head == "sobjects" and len(parts) in (2, 3) and method == "GET":
            schema = self.org.schema(parts[1])
            if schema is None:
                return _error(404, *_NOT_FOUND)
            if len(parts) == 2:
                return self._describe(schema)
            if parts[2] in ("updated", "deleted"):
                return self._replication(request, schema, parts[2])
            if parts[2] == "describe":
                return self._describe(schema)
            return self._get_record(schema, parts[2], version)
        if parts[:2] == ["jobs", "query"]:
            return self._bulk(request, version, parts[2:])
        if head in ("query", "queryAll", "limits", "sobjects") and method != "GET":
            return _error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET")
        return _error(404, *_NOT_FOUND)

    # REST query
    def _query(self, request: RecordedRequest, version: str, *, include_deleted: bool) -> _Response:
        soql = request.param("q")
        if not soql:
            return _error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            query = self.org.parse(soql)
        except SoqlError as exc:
            return _error(400, exc.error_code, exc.message)
        rows = self.org.run(query, include_deleted=include_deleted)
        if query.count_only:
            return _json(200, {"totalSize": len(rows), "done": True, "records": []})
        schema = self.org.schema(query.sobject)
        assert schema is not None
        records = [self._rest_record(schema, row, query.fields, version) for row in rows]
        batch = self.query_batch_size
        options = request.header("Sforce-Query-Options") or ""
        requested = re.search(r"batchSize=(\d+)", options)
        if requested:
            batch = min(batch, max(200, int(requested.group(1))))
        if len(records) <= batch:
            return _json(200, {"totalSize": len(records), "done": True, "records": records})
        locator = id18(f"01g5g00000{next(self._ids):05d}")
        self._cursors[locator] = _Cursor(records, batch)
        return _json(200, self._page(locator, 0, version))

    def _page(self, locator: str, offset: int, version: str) -> dict[str, Any]:
        cursor = self._cursors[locator]
        page = cursor.records[offset : offset + cursor.batch_size]
        end = offset + len(page)
        body: dict[str, Any] = {"totalSize": len(cursor.records), "done": end >= len(cursor.records)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        body["records"] = page
        return body

    def _query_more(self, identifier: str, version: str) -> _Response:
        locator, _, offset = identifier.rpartition("-")
        cursor = self._cursors.get(locator)
        if cursor is None or not offset.isdigit() or int(offset) > len(cursor.records):
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return _json(200, self._page(locator, int(offset), version))

    def _rest_record(
        self, schema: SObjectSchema, row: Mapping[str, Any], fields: Iterable[str], version: str
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "attributes": {
                "type": schema.name,
                "url": f"/services/data/v{version}/sobjects/{schema.name}/{row['Id']}",
            }
        }
        for name in fields:
            definition = schema.field(name)
            assert definition is not None
            record[definition.name] = _json_value(definition.type, row.get(definition.name))
        return record

    def _get_record(self, schema: SObjectSchema, record_id: str, version: str) -> _Response:
        row = self.org.get(record_id)
        if row is None or not record_id.startswith(schema.key_prefix):
            return _error(404, *_NOT_FOUND)
        if row["IsDeleted"]:
            return _error(404, "ENTITY_IS_DELETED", "entity is deleted")
        fields = [f.name for f in schema.fields.values()]
        return _json(200, self._rest_record(schema, row, fields, version))

    def _describe(self, schema: SObjectSchema) -> _Response:
        fields = [
            {"name": f.name, "type": f.type, "label": f.name, "custom": f.custom, "nillable": True}
            for f in schema.fields.values()
        ]
        return _json(
            200,
            {
                "name": schema.name,
                "label": schema.name,
                "keyPrefix": schema.key_prefix,
                "custom": False,
                "queryable": True,
                "replicateable": True,
                "fields": fields,
            },
        )

    def _limits(self) -> _Response:
        jobs_today = len(self._jobs)
        return _json(
            200,
            {
                "DailyApiRequests": {
                    "Max": self.api_limit,
                    "Remaining": max(0, self.api_limit - self.api_used),
                },
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - jobs_today},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            },
        )

    # getUpdated / getDeleted
    def _replication(self, request: RecordedRequest, schema: SObjectSchema, kind: str) -> _Response:
        bounds: list[dt.datetime] = []
        for name in ("start", "end"):
            raw = request.param(name)
            if raw is None:
                return _error(400, "MISSING_ARGUMENT", f"{name} date must be specified")
            try:
                bounds.append(_floor_minute(parse_datetime(raw)))
            except ValueError:
                return _error(400, "INVALID_PARAMETER_VALUE", f"{name} date is not in the correct format")
        start, end = bounds
        now = self.org.now()
        if start >= end:
            return _error(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must be at least one minute greater than endDate",
            )
        if start < _floor_minute(now - self.org.replication_window):
            return _error(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate cannot be more than {self.org.replication_window.days} days ago",
            )
        # Nothing at or after the current minute is covered yet.
        latest = min(end, _floor_minute(now))
        if kind == "updated":
            ids = self.org.updated_ids(schema.name, start, latest)
            if len(ids) > self.org.replication_id_limit:
                return _error(
                    400,
                    "EXCEEDED_ID_LIMIT",
                    "Too many ids found. Please use a smaller date range.",
                )
            return _json(200, {"ids": ids, "latestDateCovered": format_datetime(latest)})
        earliest = self.org.earliest_date_available()
        if start < earliest:
            return _error(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate is before earliestDateAvailable {format_datetime(earliest)}",
            )
        deletions = self.org.deletions(schema.name, start, latest)
        if len(deletions) > self.org.replication_id_limit:
            return _error(400, "EXCEEDED_ID_LIMIT", "Too many ids found. Please use a smaller date range.")
        return _json(
            200,
            {
                "deletedRecords": [
                    {"id": d.record_id, "deletedDate": format_datetime(d.deleted_at)} for d in deletions
                ],
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(latest),
            },
        )
