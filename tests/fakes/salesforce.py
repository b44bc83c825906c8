"""A fake Salesforce org on local HTTPS that the real simple-salesforce client talks to.

Reaching it from connector code
-------------------------------
simple-salesforce builds every login URL as ``https://{domain}.salesforce.com/...`` (SOAP
``/services/Soap/u/{version}``, OAuth ``/services/oauth2/token``), so ``domain`` cannot name
the fake: ``domain="127.0.0.1:PORT"`` gives the host ``127.0.0.1:PORT.salesforce.com``, which
requests refuses (``InvalidURL``). ``SalesforceLogin(scratch_url=...)`` redirects the SOAP login
only, and ``Salesforce(...)`` does not pass it on. So a connector must accept an injected
``requests.Session`` and hand it to ``Salesforce(session=...)``:

* ``fake.session()`` is such a session: ``verify=<ca path>`` (verification stays on) and
  ``trust_env=False``, because requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override
  ``Session.verify``. It mounts ``FakeHostAdapter`` for ``https://login.salesforce.com``,
  ``https://test.salesforce.com``, ``https://{fake.my_domain}.salesforce.com`` and the fake's
  own URL; the adapter forwards to the fake and pins ``verify`` to the CA.
* ``fake.mount(session)`` does the mounting on a session the connector built itself.
* Logins answer ``serverUrl``/``instance_url`` = ``fake.url`` (``https://127.0.0.1:PORT``), so
  REST, query and Bulk 2.0 calls then go to the fake directly.

``fake.connect_kwargs(auth)`` gives the other ``Salesforce`` arguments for each auth mode::

    with FakeSalesforce() as fake, fake.session() as http:
        Salesforce(**fake.connect_kwargs("session"), session=http)  # instance_url + token
        Salesforce(**fake.connect_kwargs("soap"), session=http)  # username/password/token
        Salesforce(**fake.connect_kwargs("oauth_password"), session=http)
        Salesforce(**fake.connect_kwargs("client_credentials"), session=http)  # domain=My Domain
        Salesforce(**fake.connect_kwargs("jwt"), session=http)  # privatekey=fake's own key

Approximations (no recorded original to copy): the messages of INVALID_REPLICATION_DATE and of
a missing or malformed start/end (errorCodes MISSING_ARGUMENT, INVALID_PARAMETER_VALUE); the
429 answer (errorCode TOO_MANY_REQUESTS: Salesforce itself rarely sends 429); the 500/503
bodies; the Bulk 2.0 answers to unsupported SOQL (400 API_ERROR), to aborting or deleting a job
in the wrong state (400 INVALIDJOB) and to reading results with another API version (409). The
SOAP login answer uses the partner namespace that ``/services/Soap/u/`` answers with; the
fixture copied from simple-salesforce's tests uses the enterprise one.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import functools
import io
import itertools
import json
import random
import re
import secrets
import socket
import ssl
import string
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from requests.adapters import HTTPAdapter

from .soql import SObjectSchema, SoqlError, SoqlQuery, id18, parse_datetime, parse_soql
from .soql import truncate_ms as _truncate_ms
from .tls import TlsBundle, shared_tls_bundle

__all__ = [
    "AuthMode",
    "FakeCredentials",
    "FakeHostAdapter",
    "FakeOrg",
    "FakeSalesforce",
    "FaultKind",
    "FaultRule",
    "RecordedRequest",
    "fake_salesforce",
    "format_datetime",
]

FaultKind = Literal[
    "expired_session", "request_limit", "server_error", "rate_limited", "slow", "truncated", "reset"
]
AuthMode = Literal["session", "soap", "oauth_password", "client_credentials", "jwt"]
TRANSIENT_FAULTS: tuple[FaultKind, ...] = ("server_error", "rate_limited", "reset", "truncated")

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
UTC = dt.UTC


# --- wire values ------------------------------------------------------------------------


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


# --- the org ----------------------------------------------------------------------------

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


# --- requests, faults, sessions, bulk jobs ---------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    fault: str | None = None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class FaultRule:
    """Answer matching requests with a fault, ``times`` times (None: until cleared)."""

    match: str | Callable[[RecordedRequest], bool] | None
    kind: FaultKind
    times: int | None = 1
    status: int | None = None
    delay: float = 2.0
    retry_after: int = 1

    def matches(self, request: RecordedRequest) -> bool:
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in request.path
        return self.match(request)


@dataclass
class FakeCredentials:
    """What the fake accepts. The OAuth password grant takes password+token, like SOAP."""

    username: str = "sync.user@example.test"
    password: str = "correct-horse-battery"
    security_token: str = "FAKESECTOKEN42"
    consumer_key: str = "3MVG9fake.consumer.key"
    consumer_secret: str = "FAKE0123456789SECRET"
    # None: JWT assertions must be signed with the fake's own key (``jwt_private_key_pem``).
    jwt_public_key_pem: bytes | None = None
    # True: a password without the security token is accepted (a trusted IP range).
    trusted_network: bool = False

    def password_ok(self, given: str) -> bool:
        return given == self.password + self.security_token or (
            self.trusted_network and given == self.password
        )


@functools.cache
def _jwt_keypair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    batch_size: int


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


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return _Response(status, body, headers=headers or {})


def _error(status: int, code: str, message: str) -> _Response:
    return _json(status, [{"message": message, "errorCode": code}])


def _oauth_error(error: str, description: str) -> _Response:
    return _json(400, {"error": error, "error_description": description})


_NOT_FOUND = ("NOT_FOUND", "The requested resource does not exist")

_SOAP_LOGIN_RESPONSE = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><loginResponse><result>
<metadataServerUrl>{base}/services/Soap/m/{version}/{org15}</metadataServerUrl>
<passwordExpired>false</passwordExpired>
<sandbox>false</sandbox>
<serverUrl>{base}/services/Soap/u/{version}/{org15}</serverUrl>
<sessionId>{session_id}</sessionId>
<userId>{user_id}</userId>
<userInfo>
<accessibilityMode>false</accessibilityMode>
<currencySymbol>$</currencySymbol>
<orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>
<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode>
<orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments>
<orgHasPersonAccounts>false</orgHasPersonAccounts>
<organizationId>{org_id}</organizationId>
<organizationMultiCurrency>false</organizationMultiCurrency>
<organizationName>Fake Org</organizationName>
<profileId>00e5g000001FaKeAAA</profileId>
<roleId xsi:nil="true"/>
<sessionSecondsValid>7200</sessionSecondsValid>
<userDefaultCurrencyIsoCode xsi:nil="true"/>
<userEmail>{username}</userEmail>
<userFullName>Sync User</userFullName>
<userId>{user_id}</userId>
<userLanguage>en_US</userLanguage>
<userLocale>en_US</userLocale>
<userName>{username}</userName>
<userTimeZone>America/Los_Angeles</userTimeZone>
<userType>Standard</userType>
<userUiSkin>Theme3</userUiSkin>
</userInfo>
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""

_SOAP_INVALID_LOGIN = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="urn:fault.partner.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
    "<faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, "
    "password, security token; or user locked out.</faultstring><detail>"
    '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN'
    "</sf:exceptionCode><sf:exceptionMessage>Invalid username, password, security token; or "
    "user locked out.</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
    "</soapenv:Body></soapenv:Envelope>"
)


class FakeHostAdapter(HTTPAdapter):
    """Sends a mounted host's requests to the fake, verifying TLS against the fake's CA.

    Pinning ``verify`` here matters: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override
    ``Session.verify``, so a session-level CA path alone loses to the environment.
    """

    def __init__(self, target_url: str, ca_path: str) -> None:
        super().__init__()
        self._target = urlsplit(target_url)
        self._ca_path = ca_path

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = urlunsplit(
            (self._target.scheme, self._target.netloc, parts.path, parts.query, parts.fragment)
        )
        return super().send(request, stream, timeout, self._ca_path, cert, proxies)


# --- the server ---------------------------------------------------------------------------


class FakeSalesforce:
    """The fake org behind an HTTPS server on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        *,
        version: str = "59.0",
        org: FakeOrg | None = None,
        credentials: FakeCredentials | None = None,
        tls: TlsBundle | None = None,
        query_batch_size: int = 2000,
        bulk_polls_to_complete: int = 1,
        my_domain: str = "fake-org.my",
    ) -> None:
        self.version = version
        self.org = org or FakeOrg()
        self.credentials = credentials or FakeCredentials()
        self.tls = tls or shared_tls_bundle()
        # REST query page size (Salesforce: 2,000; Sforce-Query-Options may lower it).
        self.query_batch_size = query_batch_size
        # GET jobs/query/{id} polls before a Bulk 2.0 job reports JobComplete.
        self.bulk_polls_to_complete = bulk_polls_to_complete
        self.bulk_default_max_records = 50_000
        self.my_domain = my_domain
        self.api_used = 0
        self.api_limit = 15_000
        self.enforce_api_limit = True
        # Seconds an issued token lives; None: until expire_sessions().
        self.session_ttl: float | None = None
        self.request_log: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._sessions: dict[str, float | None] = {}
        self._cursors: dict[str, _Cursor] = {}
        self._jobs: dict[str, _BulkJob] = {}
        self._job_failures: list[str] = []
        self._rules: list[FaultRule] = []
        self._chaos: tuple[random.Random, float, tuple[FaultKind, ...], str] | None = None
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._connections: set[ssl.SSLSocket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ssl_context = self.tls.server_context()

    # lifecycle
    def start(self) -> FakeSalesforce:
        self._stopping.clear()
        self._server = _Server(self)
        # A short poll interval keeps stop() fast; tests start and stop many fakes.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-salesforce",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Wake handler threads parked on idle keep-alive connections.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSalesforce:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake is not running")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def ca_path(self) -> str:
        return str(self.tls.ca_path)

    @property
    def login_hosts(self) -> tuple[str, ...]:
        return ("login.salesforce.com", "test.salesforce.com", f"{self.my_domain}.salesforce.com")

    # client side helpers
    def mount(self, http: requests.Session) -> requests.Session:
        """Route the login hosts and the fake's own URL through ``FakeHostAdapter``."""
        for prefix in [f"https://{host}/" for host in self.login_hosts] + [f"{self.url}/"]:
            http.mount(prefix, FakeHostAdapter(self.url, self.ca_path))
        return http

    def session(self) -> requests.Session:
        """A requests session that reaches the fake (for every host) trusting only its CA."""
        http = requests.Session()
        # No proxies or CA bundles from the environment for a loopback fake.
        http.trust_env = False
        http.verify = self.ca_path
        return self.mount(http)

    @property
    def jwt_private_key_pem(self) -> str:
        """Private key to sign JWT assertions with, when no ``jwt_public_key_pem`` is set."""
        return _jwt_keypair()[0]

    def connect_kwargs(self, auth: AuthMode = "session") -> dict[str, Any]:
        """Arguments for ``simple_salesforce.Salesforce`` (add ``session=fake.session()``)."""
        creds = self.credentials
        if auth == "session":
            return {"instance_url": self.url, "session_id": self.issue_token(), "version": self.version}
        if auth == "soap":
            return {
                "username": creds.username,
                "password": creds.password,
                "security_token": creds.security_token,
                "version": self.version,
            }
        if auth == "oauth_password":
            return {
                "username": creds.username,
                "password": creds.password + creds.security_token,
                "consumer_key": creds.consumer_key,
                "consumer_secret": creds.consumer_secret,
                "version": self.version,
            }
        if auth == "client_credentials":
            return {
                "consumer_key": creds.consumer_key,
                "consumer_secret": creds.consumer_secret,
                "domain": self.my_domain,
                "version": self.version,
            }
        if auth == "jwt":
            return {
                "username": creds.username,
                "consumer_key": creds.consumer_key,
                "privatekey": self.jwt_private_key_pem,
                "version": self.version,
            }
        raise ValueError(f"unknown auth mode {auth!r}")

    # sessions
    def issue_token(self) -> str:
        """A fresh valid access token, as if a login had happened."""
        token = f"{FakeOrg.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        with self._lock:
            expires = time.monotonic() + self.session_ttl if self.session_ttl else None
            self._sessions[token] = expires
        return token

    def expire_sessions(self) -> None:
        """Every issued token now answers 401 INVALID_SESSION_ID."""
        with self._lock:
            self._sessions = dict.fromkeys(self._sessions, 0.0)

    def _token_valid(self, token: str) -> bool:
        with self._lock:
            if token not in self._sessions:
                return False
            expires = self._sessions[token]
            return expires is None or time.monotonic() < expires

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

    # faults
    def fail_next(
        self,
        match: str | Callable[[RecordedRequest], bool] | None = None,
        kind: FaultKind = "server_error",
        times: int | None = 1,
        *,
        status: int | None = None,
        delay: float = 2.0,
        retry_after: int = 1,
    ) -> FaultRule:
        """Queue a fault for requests whose path contains ``match`` (or that it accepts)."""
        rule = FaultRule(match, kind, times, status, delay, retry_after)
        with self._lock:
            self._rules.append(rule)
        return rule

    def chaos(
        self,
        probability: float,
        *,
        seed: int = 0,
        kinds: tuple[FaultKind, ...] = TRANSIENT_FAULTS,
        path_prefix: str = "/services/data/",
    ) -> None:
        """Fail each request under ``path_prefix`` with ``probability``, seeded."""
        with self._lock:
            self._chaos = (random.Random(seed), probability, kinds, path_prefix)

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()
            self._chaos = None

    def fail_next_bulk_job(self, message: str = "UNKNOWN_EXCEPTION: an internal error") -> None:
        """The next Bulk 2.0 query job created ends in state Failed with ``message``."""
        with self._lock:
            self._job_failures.append(message)

    def expire_query_cursors(self) -> None:
        """Every open nextRecordsUrl answers INVALID_QUERY_LOCATOR, as after 15 idle minutes."""
        with self._lock:
            self._cursors.clear()

    def requests_to(self, path_part: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.request_log if path_part in r.path]

    def clear_request_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    def bulk_job(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.info() if job else None

    def _pick_fault(self, request: RecordedRequest) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(request):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
            if self._chaos is not None:
                rng, probability, kinds, prefix = self._chaos
                if request.path.startswith(prefix) and rng.random() < probability:
                    return FaultRule(None, rng.choice(kinds))
        return None

    def _fault_response(self, rule: FaultRule) -> _Response:
        if rule.kind == "expired_session":
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if rule.kind == "request_limit":
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if rule.kind == "rate_limited":
            response = _error(429, "TOO_MANY_REQUESTS", f"Too many requests; retry after {rule.retry_after}s")
            response.headers["Retry-After"] = str(rule.retry_after)
            return response
        status = rule.status or 500
        if status == 503:
            return _error(503, "SERVER_UNAVAILABLE", "Service temporarily unavailable")
        return _error(
            status,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact "
            "support: 1234567890-12345 (-1234567890)",
        )

    # dispatch: one request in, one response out (faults are applied by the handler)
    def _dispatch(self, request: RecordedRequest) -> _Response:
        path = request.path
        if path.startswith("/services/Soap/u/") and request.method == "POST":
            return self._soap_login(request)
        if path.rstrip("/") == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        if path.startswith("/services/data"):
            response = self._rest(request)
            response.headers["Sforce-Limit-Info"] = self.limit_info
            return response
        return _Response(404, b"Not Found", "text/plain")

    def _soap_login(self, request: RecordedRequest) -> _Response:
        version = request.path.removeprefix("/services/Soap/u/").strip("/")
        try:
            root = ET.fromstring(request.body)
        except ET.ParseError:
            return _Response(500, _SOAP_INVALID_LOGIN.encode(), "text/xml; charset=utf-8")
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        creds = self.credentials
        password = values.get("password", "")
        org_ok = values.get("organizationId", "")[:15] == FakeOrg.org_id[:15]
        if values.get("username") != creds.username or not (
            creds.password_ok(password) or (org_ok and password == creds.password)
        ):
            return _Response(500, _SOAP_INVALID_LOGIN.encode(), "text/xml; charset=utf-8")
        body = _SOAP_LOGIN_RESPONSE.format(
            base=self.url,
            version=version,
            org15=FakeOrg.org_id[:15],
            org_id=FakeOrg.org_id,
            user_id=FakeOrg.user_id,
            session_id=self.issue_token(),
            username=escape(creds.username),
        )
        return _Response(200, body.encode(), "text/xml; charset=utf-8")

    def _token(self, request: RecordedRequest) -> _Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        creds = self.credentials
        grant = form.get("grant_type", "")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.header("Authorization") or ""
        if basic.startswith("Basic "):
            try:
                decoded = base64.b64decode(basic[6:], validate=True).decode()
            except ValueError:
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        if grant not in ("password", "client_credentials", JWT_BEARER):
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if grant != JWT_BEARER:
            if client_id != creds.consumer_key:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if client_secret != creds.consumer_secret:
                return _oauth_error("invalid_client", "invalid client credentials")
        if grant == "password" and not (
            form.get("username") == creds.username and creds.password_ok(form.get("password", ""))
        ):
            return _oauth_error("invalid_grant", "authentication failure")
        if grant == JWT_BEARER:
            problem = self._check_assertion(form.get("assertion", ""))
            if problem is not None:
                return problem
        token = self.issue_token()
        issued_at = str(int(time.time() * 1000))
        payload = {
            "access_token": token,
            "instance_url": self.url,
            "id": f"{self.url}/id/{FakeOrg.org_id}/{FakeOrg.user_id}",
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        if grant != "password":
            payload["scope"] = "api"
        return _json(200, payload)

    def _check_assertion(self, assertion: str) -> _Response | None:
        creds = self.credentials
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url(header_b64))
            claims = json.loads(_b64url(payload_b64))
            signature = _b64url(signature_b64)
        except ValueError:  # also covers binascii and JSON decoding errors
            return _oauth_error("invalid_grant", "invalid assertion")
        if not (isinstance(header, dict) and isinstance(claims, dict)):
            return _oauth_error("invalid_grant", "invalid assertion")
        public_pem = creds.jwt_public_key_pem or _jwt_keypair()[1]
        public_key = serialization.load_pem_public_key(public_pem)
        if header.get("alg") != "RS256" or not isinstance(public_key, rsa.RSAPublicKey):
            return _oauth_error("invalid_grant", "invalid assertion")
        try:
            public_key.verify(
                signature,
                f"{header_b64}.{payload_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != creds.consumer_key:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        audiences = {f"https://{h}" for h in self.login_hosts} | {self.url}
        if claims.get("aud") not in audiences:
            return _oauth_error("invalid_grant", "audience is invalid")
        if claims.get("sub") != creds.username:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        try:
            expired = float(claims.get("exp", 0)) < time.time()
        except (TypeError, ValueError):
            expired = True
        if expired:
            return _oauth_error("invalid_grant", "expired authorization code")
        return None

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


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSalesforce) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Dropped connections are the point of several faults; keep test output clean.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Idle keep-alive connections give their thread back after this many seconds.
    timeout = 15

    def setup(self) -> None:
        # TLS is set up here, in the connection's own thread, so a slow or failing
        # handshake never stalls the accept loop.
        raw = self.request
        raw.settimeout(self.timeout)
        tls = self.server.fake._ssl_context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        self.request = tls
        try:
            tls.do_handshake()
        except (OSError, ssl.SSLError):
            tls.close()
            raise
        with self.server.fake._lock:
            self.server.fake._connections.add(tls)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.fake._lock:
                self.server.fake._connections.discard(self.request)
            self.request.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=body,
        )
        rule = fake._pick_fault(request)
        request.fault = rule.kind if rule else None
        with fake._lock:
            fake.request_log.append(request)
        if rule is not None and rule.kind == "slow":
            if fake._stopping.wait(rule.delay):
                self._drop(reset=True)
                return
            rule = None
        if rule is not None and rule.kind == "reset":
            self._drop(reset=True)
            return
        if rule is not None and rule.kind != "truncated":
            response = fake._fault_response(rule)
            if request.path.startswith("/services/data"):
                with fake._lock:
                    fake.api_used += 1
                response.headers["Sforce-Limit-Info"] = fake.limit_info
        else:
            response = fake._dispatch(request)
        self._send(response, truncate=rule is not None and rule.kind == "truncated")

    def _send(self, response: _Response, *, truncate: bool = False) -> None:
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
            # A truncated answer promises more bytes than it sends, then hangs up.
            extra = 64 if truncate else 0
            self.send_header("Content-Length", str(len(response.body) + extra))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.wfile.write(response.body[: len(response.body) // 2])
            # An orderly close: the client reads the partial body, then hits end of stream.
            self._drop(reset=False)
            return
        self.wfile.write(response.body)

    def _drop(self, *, reset: bool) -> None:
        """Hang up without another byte: with a TCP reset, or an unannounced FIN."""
        self.close_connection = True
        try:
            if reset:
                linger = struct.pack("ii", 1, 0)
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            else:
                self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.request.close()


@pytest.fixture
def fake_salesforce() -> Iterator[FakeSalesforce]:
    """A running fake org for one test."""
    with FakeSalesforce() as fake:
        yield fake
