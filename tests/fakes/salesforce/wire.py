"""Values and answers as Salesforce puts them on the wire: dateTimes, CSV cells, JSON and error bodies."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..soql import truncate_ms as _truncate_ms
from .faults import _Response


def format_datetime(value: dt.datetime) -> str:
    """A dateTime as REST JSON carries it: ``2011-07-07T00:37:00.000+0000``."""
    value = _truncate_ms(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _format_csv_datetime(value: dt.datetime) -> str:
    # Bulk API 2.0 CSV writes the zone as Z, unlike REST JSON's +0000.
    return format_datetime(value)[:-5] + "Z"


def _json_value(field_type: str, value: Any) -> Any:
    if value is None:
        return None
    if field_type == "datetime":
        return format_datetime(value)
    if field_type == "date":
        return value.isoformat()
    return value


def _csv_value(field_type: str, value: Any) -> str:
    if value is None:
        return ""
    if field_type == "datetime":
        return _format_csv_datetime(value)
    if field_type == "date":
        return str(value.isoformat())
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _floor_minute(value: dt.datetime) -> dt.datetime:
    # getUpdated/getDeleted ignore seconds: 12:30:15 is read as 12:30:00.
    return value.replace(second=0, microsecond=0)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return _Response(status, body, headers=headers or {})


def _error(status: int, code: str, message: str) -> _Response:
    return _json(status, [{"message": message, "errorCode": code}])


_NOT_FOUND = ("NOT_FOUND", "The requested resource does not exist")
