"""Custom scalars: `JSONString` (a JSON-encoded string) and `ExpectedErrorType` (form errors)."""

from __future__ import annotations

import json
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

JSONString = NewType("JSONString", object)
ExpectedErrorType = NewType("ExpectedErrorType", object)


def _dump_json_string(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _load_json_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("JSONString expects a JSON-encoded string")
    return json.loads(value)


def _identity(value: Any) -> Any:
    return value


SCALARS: dict[object, ScalarDefinition] = {
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
