"""The signed JSON webhook's body: ids for the source to be asked about, or full native records."""

from __future__ import annotations

import json
from typing import Any

from models.text import unstorable_in
from sync.jobs.webhook import RECORD, REF, InboxItem
from sync.mapping import KIND_ID_FIELD, FieldError, normalize_datetime

_ID_FIELD = KIND_ID_FIELD["customers"]
_REF_KEYS = frozenset({"id", "updatedAt"})
_MAX_ID = 255


class BadDeliveryError(Exception):
    """The body is not a delivery we can take (one clear line naming the record at fault)."""


def _stamp(value: Any, where: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return normalize_datetime(str(value))
    except FieldError:
        raise BadDeliveryError(f"{where}.updatedAt is not a date-time") from None


def _identifier(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadDeliveryError(f"{where} needs a string id")
    text = str(value).strip()
    if not text or len(text) > _MAX_ID:
        raise BadDeliveryError(f"{where} needs an id of 1 to {_MAX_ID} characters")
    return text


def parse_json_delivery(body: bytes, *, refs: bool, records: bool) -> list[InboxItem]:
    """Read `{"records": [...]}`: each entry `{"id", "updatedAt"}` (a ref) or a native record.

    `refs` and `records` say which the source takes; anything else is a BadDeliveryError.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadDeliveryError("the body is not JSON") from None
    except RecursionError:
        # json.loads recurses once per nesting level: `[[[[…` from a sender is its error, not ours.
        raise BadDeliveryError("the body is nested too deeply") from None
    found = unstorable_in(document)
    if found is not None:
        # The store cannot hold these (models.text): refused here, not failed on insert.
        raise BadDeliveryError(f"the body has {found} in a string")
    entries = document.get("records") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise BadDeliveryError('the body must be an object with a "records" list')
    items: list[InboxItem] = []
    for n, entry in enumerate(entries):
        where = f"records[{n}]"
        if not isinstance(entry, dict):
            raise BadDeliveryError(f"{where} is not an object")
        if _ID_FIELD in entry:
            if not records:
                raise BadDeliveryError(f"{where}: this source takes ids to fetch, not full records")
            source_id = _identifier(entry[_ID_FIELD], where)
            items.append(
                InboxItem(source_id, dict(entry), _stamp(entry.get("updatedAt"), where), kind=RECORD)
            )
        elif "id" in entry and set(entry) <= _REF_KEYS:
            if not refs:
                raise BadDeliveryError(
                    f"{where}: this source cannot be asked for records by id; send full records "
                    f"(with {_ID_FIELD})"
                )
            source_id = _identifier(entry["id"], where)
            stamp = _stamp(entry.get("updatedAt"), where)
            items.append(InboxItem(source_id, {}, stamp, kind=REF))
        else:
            raise BadDeliveryError(f'{where} is neither {{"id", "updatedAt"}} nor a record with {_ID_FIELD}')
    return items
