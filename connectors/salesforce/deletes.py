"""Deletes Salesforce no longer shows in queryAll: the getDeleted log, and listing live ids."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.salesforce.client import SalesforceClient, error_code
from connectors.salesforce.records import parse_stamp, soql_select, soql_string

# getDeleted reads whole minutes and refuses windows shorter than one.
_MINUTE = timedelta(minutes=1)
_ID_PAGE = 2000


@dataclass(slots=True)
class DeleteLog:
    """What getDeleted reported for a window: the deletions, and up to when it is complete."""

    deleted: list[tuple[str, datetime]]
    latest_covered: datetime


def _floor_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def read_delete_log(
    client: SalesforceClient, sobject: str, start: datetime, end: datetime
) -> DeleteLog | None:
    """Deletions in [start, end); None when the log no longer reaches back to `start`.

    The datetimes must be timezone-aware: simple-salesforce formats them as given, and a naive
    one reaches Salesforce without a zone.
    """
    if _floor_minute(end) - _floor_minute(start) < _MINUTE:
        return DeleteLog([], start)
    try:
        answer = client.call(f"{sobject}.deleted", lambda sf: getattr(sf, sobject).deleted(start, end))
    except SalesforceMalformedRequest as exc:
        # Older than earliestDateAvailable, or than the 30-day replication window.
        if error_code(exc) == "INVALID_REPLICATION_DATE":
            return None
        raise
    earliest = answer.get("earliestDateAvailable")
    if earliest and parse_stamp(earliest) > start:
        return None
    deleted = [(str(d["id"]), parse_stamp(d["deletedDate"])) for d in answer.get("deletedRecords") or []]
    return DeleteLog(deleted, parse_stamp(answer["latestDateCovered"]))


def live_ids(client: SalesforceClient, sobject: str) -> Iterator[str]:
    """Every id the org holds for `sobject` now, in keyset pages on Id."""
    after: str | None = None
    while True:
        where = f"Id > {soql_string(after)}" if after else ""
        soql = soql_select(["Id"], sobject, where, order_by="Id", limit=_ID_PAGE)
        records = client.query(soql)["records"]
        for record in records:
            yield str(record["Id"])
        if len(records) < _ID_PAGE:
            return
        after = str(records[-1]["Id"])
