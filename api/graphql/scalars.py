"""Custom scalars: `JSONString`, `ExpectedErrorType` (form errors) and a range-checked `DateTime`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from api.graphql.errors import BadUserInputError

JSONString = NewType("JSONString", object)
ExpectedErrorType = NewType("ExpectedErrorType", object)


def _dump_json_string(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _load_json_string(value: Any) -> Any:
    try:
        if isinstance(value, str):
            return json.loads(value)
    except (ValueError, RecursionError):
        pass
    raise BadUserInputError("JSONString expects a JSON-encoded string")


def _parse_date_time(value: Any) -> datetime:
    """An ISO 8601 date-time, in UTC (no offset: read as UTC), that the store can hold."""
    if not isinstance(value, str):
        raise BadUserInputError("DateTime expects an ISO 8601 string such as 2024-05-01T12:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadUserInputError("DateTime expects an ISO 8601 string such as 2024-05-01T12:00:00Z") from None
    try:
        # Year 1 at +14:00 is still year 0 in UTC: out of range once the offset is applied.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise BadUserInputError("DateTime is out of range (years 1 to 9999 in UTC)") from None


def _identity(value: Any) -> Any:
    return value


SCALARS: dict[object, ScalarDefinition] = {
    datetime: strawberry.scalar(
        name="DateTime",
        description="Date with time (isoformat)",
        serialize=datetime.isoformat,
        parse_value=_parse_date_time,
    ),
    JSONString: strawberry.scalar(
        name="JSONString",
        description="A JSON value, sent and received as a JSON-encoded string.",
        serialize=_dump_json_string,
        parse_value=_load_json_string,
    ),
    # graphql-auth's name for `{field: [{message, code}]}`; it goes out as a JSON object.
    ExpectedErrorType: strawberry.scalar(
        name="ExpectedErrorType",
        description="Errors keyed by field: `{field: [{message, code}]}`.",
        serialize=_identity,
        parse_value=_identity,
    ),
}
