"""The fake org's data: records, schema, delete log and clock."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import string
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..soql import SObjectSchema, SoqlQuery, id18, parse_soql
from ..soql import truncate_ms as _truncate_ms
from .wire import _floor_minute

UTC = dt.UTC

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

_CONTACT_FIELDS = {
    "Id": "id",
    "IsDeleted": "boolean",
    "AccountId": "reference",
    "LastName": "string",
    "FirstName": "string",
    "Name": "string",
    "Title": "string",
    "Email": "email",
    "Phone": "phone",
    "MobilePhone": "phone",
    "MailingStreet": "textarea",
    "MailingCity": "string",
    "MailingState": "string",
    "MailingPostalCode": "string",
    "MailingCountry": "string",
    "Birthdate": "date",
    "HasOptedOutOfEmail": "boolean",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
}
_ORDER_FIELDS = {
    "Id": "id",
    "IsDeleted": "boolean",
    "AccountId": "reference",
    "BillToContactId": "reference",
    "OrderNumber": "string",
    "Status": "picklist",
    "EffectiveDate": "date",
    "TotalAmount": "currency",
    "Description": "textarea",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
}
_SYSTEM_FIELDS = frozenset({"Id", "IsDeleted", "Name", "CreatedDate", "LastModifiedDate", "SystemModstamp"})


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "double"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    return "string"


def _coerce(sobject: str, name: str, field_type: str, value: Any) -> Any:
    """Check a test-supplied value against the field type, as the org's schema would."""
    if value is None:
        return None
    ok = {
        "datetime": isinstance(value, dt.datetime),
        "date": isinstance(value, dt.date) and not isinstance(value, dt.datetime),
        "boolean": isinstance(value, bool),
        "double": isinstance(value, int | float) and not isinstance(value, bool),
        "currency": isinstance(value, int | float) and not isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
    }.get(field_type, isinstance(value, str))
    if not ok:
        raise TypeError(f"{sobject}.{name} is a {field_type} field, got {value!r}")
    return _truncate_ms(value) if field_type == "datetime" else value


@dataclass(frozen=True)
class _Deletion:
    sobject: str
    record_id: str
    deleted_at: dt.datetime


class FakeOrg:
    """The org's data: Contact and Order records, their schema, the delete log and a clock.

    Records are dicts keyed by API field name. ``SystemModstamp`` and friends come from the
    org clock, which follows real time until ``set_clock`` freezes it, so tests can give many
    records one stamp. Test helpers change data directly; they cost no API calls.
    """

    org_id = id18("00D5g000004FaKe")
    user_id = id18("0055g00000AbCdE")

    def __init__(self, *, id_seed: int | None = None) -> None:
        """``id_seed`` draws ids at random (seeded) instead of in increasing order."""
        self.lock = threading.RLock()
        self.schemas: dict[str, SObjectSchema] = {}
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._deletions: list[_Deletion] = []
        self._frozen: dt.datetime | None = None
        self._offset = dt.timedelta(0)
        self._counter = itertools.count(0x2A000)
        self._id_random = random.Random(id_seed) if id_seed is not None else None
        self.delete_log_floor: dt.datetime | None = None
        self.delete_log_retention = dt.timedelta(days=15)
        self.replication_window = dt.timedelta(days=30)
        self.replication_id_limit = 600_000
        for name, prefix, fields in (
            ("Contact", "003", _CONTACT_FIELDS),
            ("Order", "801", _ORDER_FIELDS),
        ):
            schema = SObjectSchema(name, prefix)
            for field_name, field_type in fields.items():
                schema.add_field(field_name, field_type)
            self.schemas[name.lower()] = schema
            self._records[name] = {}

    # clock
    def now(self) -> dt.datetime:
        if self._frozen is not None:
            return self._frozen
        return _truncate_ms(dt.datetime.now(UTC) + self._offset)

    def set_clock(self, when: dt.datetime, *, frozen: bool = True) -> None:
        """Move the org clock to ``when``; frozen (the default) it stays there until moved."""
        with self.lock:
            when = _truncate_ms(when)
            if frozen:
                self._frozen = when
            else:
                self._frozen = None
                self._offset = when - dt.datetime.now(UTC)

    def advance_clock(self, delta: dt.timedelta) -> dt.datetime:
        with self.lock:
            if self._frozen is not None:
                self._frozen = _truncate_ms(self._frozen + delta)
            else:
                self._offset += delta
            return self.now()

    # schema
    def schema(self, sobject: str) -> SObjectSchema | None:
        return self.schemas.get(sobject.lower())

    def add_field(self, sobject: str, name: str, field_type: str) -> None:
        """Declare a (custom) field; records without a value read it as null."""
        with self.lock:
            self._schema(sobject).add_field(name, field_type)

    def _schema(self, sobject: str) -> SObjectSchema:
        schema = self.schema(sobject)
        if schema is None:
            raise KeyError(f"the fake org has no sObject {sobject!r}")
        return schema

    def _schema_for_id(self, record_id: str) -> SObjectSchema:
        for schema in self.schemas.values():
            if record_id.startswith(schema.key_prefix) and record_id in self._records[schema.name]:
                return schema
        raise KeyError(f"no record {record_id!r} in the fake org")

    def _new_id(self, prefix: str) -> str:
        if self._id_random is not None:
            unique = "".join(self._id_random.choice(_BASE62) for _ in range(9))
        else:
            # Fixed-width base62 over an ASCII-ordered alphabet: ids sort in creation order.
            n, unique = next(self._counter), ""
            for _ in range(9):
                n, digit = divmod(n, 62)
                unique = _BASE62[digit] + unique
        return id18(f"{prefix}5g0{unique}")

    def _apply(self, schema: SObjectSchema, record: dict[str, Any], values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            definition = schema.field(name)
            if definition is None:
                if not name.endswith("__c"):
                    raise KeyError(f"{schema.name} has no field {name!r}; custom fields end in __c")
                definition = schema.add_field(name, _infer_type(value))
            if definition.name in _SYSTEM_FIELDS:
                raise KeyError(f"{schema.name}.{definition.name} is set by the org; use stamp=")
            record[definition.name] = _coerce(schema.name, name, definition.type, value)
        if schema.name == "Contact":
            parts = (record.get("FirstName"), record.get("LastName"))
            record["Name"] = " ".join(p for p in parts if p)

    # records
    def add_record(self, sobject: str, *, stamp: dt.datetime | None = None, **fields: Any) -> str:
        """Insert a record; Created/LastModified/SystemModstamp are ``stamp`` or now."""
        with self.lock:
            schema = self._schema(sobject)
            when = _truncate_ms(stamp) if stamp else self.now()
            record_id = self._new_id(schema.key_prefix)
            while record_id in self._records[schema.name]:
                record_id = self._new_id(schema.key_prefix)
            record: dict[str, Any] = {"Id": record_id, "IsDeleted": False}
            if schema.name == "Contact" and not fields.get("LastName"):
                raise ValueError("REQUIRED_FIELD_MISSING: Contact.LastName")
            if schema.name == "Order":
                fields.setdefault("Status", "Draft")
                fields.setdefault("EffectiveDate", when.date())
                fields.setdefault("OrderNumber", f"{len(self._records['Order']) + 100:08d}")
            self._apply(schema, record, fields)
            record.update(CreatedDate=when, LastModifiedDate=when, SystemModstamp=when)
            self._records[schema.name][record_id] = record
            return record_id

    def update_record(
        self,
        record_id: str,
        *,
        stamp: dt.datetime | None = None,
        system_only: bool = False,
        **fields: Any,
    ) -> None:
        """Change fields; bumps SystemModstamp (and LastModifiedDate unless ``system_only``,
        which mimics the system updates that move only SystemModstamp)."""
        with self.lock:
            schema = self._schema_for_id(record_id)
            record = self._records[schema.name][record_id]
            if record["IsDeleted"]:
                raise ValueError(f"ENTITY_IS_DELETED: {record_id}")
            self._apply(schema, record, fields)
            when = _truncate_ms(stamp) if stamp else self.now()
            record["SystemModstamp"] = when
            if not system_only:
                record["LastModifiedDate"] = when

    def delete_record(self, record_id: str, *, stamp: dt.datetime | None = None) -> None:
        """Soft delete: into the recycle bin (queryAll still sees it) and the delete log."""
        with self.lock:
            schema = self._schema_for_id(record_id)
            record = self._records[schema.name][record_id]
            if record["IsDeleted"]:
                raise ValueError(f"ENTITY_IS_DELETED: {record_id}")
            when = _truncate_ms(stamp) if stamp else self.now()
            record.update(IsDeleted=True, SystemModstamp=when, LastModifiedDate=when)
            self._deletions.append(_Deletion(schema.name, record_id, when))

    def undelete_record(self, record_id: str, *, stamp: dt.datetime | None = None) -> None:
        with self.lock:
            schema = self._schema_for_id(record_id)
            record = self._records[schema.name][record_id]
            when = _truncate_ms(stamp) if stamp else self.now()
            record.update(IsDeleted=False, SystemModstamp=when, LastModifiedDate=when)
            self._deletions = [d for d in self._deletions if d.record_id != record_id]

    def empty_recycle_bin(self) -> None:
        """Hard-delete the soft-deleted records; the delete log keeps their entries."""
        with self.lock:
            for records in self._records.values():
                for record_id in [i for i, r in records.items() if r["IsDeleted"]]:
                    del records[record_id]

    def purge_delete_log_before(self, when: dt.datetime) -> None:
        """Drop delete-log entries older than ``when``: earliestDateAvailable moves to it."""
        with self.lock:
            when = _truncate_ms(when)
            self._deletions = [d for d in self._deletions if d.deleted_at >= when]
            if self.delete_log_floor is None or when > self.delete_log_floor:
                self.delete_log_floor = when

    def earliest_date_available(self) -> dt.datetime:
        earliest = self.now() - self.delete_log_retention
        if self.delete_log_floor is not None:
            earliest = max(earliest, self.delete_log_floor)
        return _floor_minute(earliest)

    def get(self, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            for records in self._records.values():
                if record_id in records:
                    return dict(records[record_id])
            return None

    def records(self, sobject: str, *, live_only: bool = True) -> list[dict[str, Any]]:
        """Copies of the stored records, to compare a sync's result against."""
        with self.lock:
            rows = self._records[self._schema(sobject).name].values()
            return [dict(r) for r in rows if not (live_only and r["IsDeleted"])]

    # the Contact/Order helpers tests use most
    def add_contact(self, *, stamp: dt.datetime | None = None, **fields: Any) -> str:
        return self.add_record("Contact", stamp=stamp, **fields)

    def add_contacts(self, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        return [self.add_record("Contact", **dict(row)) for row in rows]

    def update_contact(
        self,
        record_id: str,
        *,
        stamp: dt.datetime | None = None,
        system_only: bool = False,
        **fields: Any,
    ) -> None:
        self.update_record(record_id, stamp=stamp, system_only=system_only, **fields)

    def delete_contact(self, record_id: str, *, stamp: dt.datetime | None = None) -> None:
        self.delete_record(record_id, stamp=stamp)

    def undelete(self, record_id: str, *, stamp: dt.datetime | None = None) -> None:
        self.undelete_record(record_id, stamp=stamp)

    def contacts(self, live_only: bool = True) -> list[dict[str, Any]]:
        return self.records("Contact", live_only=live_only)

    def add_order(self, *, stamp: dt.datetime | None = None, **fields: Any) -> str:
        return self.add_record("Order", stamp=stamp, **fields)

    def orders(self, live_only: bool = True) -> list[dict[str, Any]]:
        return self.records("Order", live_only=live_only)

    # what the API reads (callers hold self.lock)
    def parse(self, soql: str) -> SoqlQuery:
        return parse_soql(soql, self.schema)

    def run(self, query: SoqlQuery, *, include_deleted: bool) -> list[dict[str, Any]]:
        rows = self._records[query.sobject].values()
        return [dict(r) for r in query.run(r for r in rows if include_deleted or not r["IsDeleted"])]

    def updated_ids(self, sobject: str, start: dt.datetime, end: dt.datetime) -> list[str]:
        rows = [
            r
            for r in self._records[sobject].values()
            if not r["IsDeleted"] and start <= r["SystemModstamp"] < end
        ]
        return [r["Id"] for r in sorted(rows, key=lambda r: (r["SystemModstamp"], r["Id"]))]

    def deletions(self, sobject: str, start: dt.datetime, end: dt.datetime) -> list[_Deletion]:
        return [d for d in self._deletions if d.sobject == sobject and start <= d.deleted_at < end]
