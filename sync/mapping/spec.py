"""Mapping: a raw `SourceRecord` becomes a validated `Draft` of a documented object, or a `Reject`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any

from connectors.base import SourceRecord
from sync.mapping.normalize import (
    DAY_FIRST_FORMATS,
    FieldError,
    clean_text,
    normalize_bool,
    normalize_country,
    normalize_date,
    normalize_datetime,
    normalize_email,
    normalize_gender,
    normalize_phone,
)

_SPACE_RUN = re.compile(r"\s+")

KINDS: tuple[str, ...] = ("customers", "orders", "promotions", "redemptions")

# Documented field name -> (store key, how to read it). Documented names are what mapping
# files and the `native` layout use; store keys are the columns the loaders write.
FieldSpec = tuple[str, str]
KIND_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "customers": {
        "email": ("email", "email"),
        "firstname": ("firstname", "text"),
        "lastname": ("lastname", "text"),
        "phoneNumber": ("phone_number", "phone"),
        "birthday": ("birthday", "date"),
        "gender": ("gender", "gender"),
        "country": ("country", "country"),
        "city": ("city", "text"),
        "street": ("street", "text"),
        "zipCode": ("zip_code", "text"),
        "address": ("address", "text"),
        "picture": ("picture", "text"),
        "secondaryEmail": ("secondary_email", "email_optional"),
        "loyaltyId": ("loyalty_id", "text"),
    },
    "orders": {
        "orderId": ("order_id", "text"),
        "consumerEmail": ("consumer_email", "email_optional"),
        "consumerLoyaltyId": ("consumer_loyalty_id", "text"),
        "store": ("store", "text"),
        # The e-mail of the merchant whose store it is: an operator's file may give a store its owner.
        "storeMerchant": ("store_merchant", "email_optional"),
        "orderType": ("order_type", "text"),
        "completedAt": ("completed_at", "datetime"),
        "paymentType": ("payment_type", "text"),
        "total": ("total", "decimal_required"),
        "currency": ("currency", "upper"),
        "points": ("points", "int"),
    },
    "promotions": {
        "promotionId": ("promotion_id", "text"),
        "name": ("name", "text"),
        "description": ("description", "text"),
        "store": ("store", "text"),
        "storeMerchant": ("store_merchant", "email_optional"),
        "startsAt": ("starts_at", "datetime"),
        "endsAt": ("ends_at", "datetime"),
        "audience": ("audience", "upper"),
        "minPoints": ("min_points", "int"),
        "tags": ("tags", "list"),
        "perCustomerLimit": ("per_customer_limit", "int"),
        "pointsCost": ("points_cost", "int"),
        "active": ("active", "bool"),
    },
    "redemptions": {
        "redemptionId": ("redemption_id", "text"),
        "consumerEmail": ("consumer_email", "email_optional"),
        "consumerLoyaltyId": ("consumer_loyalty_id", "text"),
        "promotionId": ("promotion_id", "text"),
        "kind": ("kind", "upper"),
        "points": ("points", "int"),
        "stamps": ("stamps", "int"),
        "createdAt": ("created_at", "datetime"),
    },
}

# Which documented field is the record's own id, per kind, when the layout has one.
KIND_ID_FIELD = {
    "customers": "entitySourceId",
    "orders": "orderId",
    "promotions": "promotionId",
    "redemptions": "redemptionId",
}


@lru_cache(maxsize=8192)
def header_key(name: str) -> str:
    """How headers are compared: case-blind, surrounding and inner space folded."""
    return _SPACE_RUN.sub(" ", name).strip().lower()


@dataclass(slots=True)
class Issue:
    """A reject or a warning about one record, with where it was and why."""

    reason: str
    message: str
    position: int | None = None
    source_id: str | None = None
    field: str | None = None
    raw: str | None = None


@dataclass(slots=True)
class Draft:
    """A validated record of one kind, ready for its loader."""

    source_id: str
    fields: dict[str, Any]
    extra_info: dict[str, Any]
    modstamp: datetime | None = None
    deleted: bool = False
    position: int | None = None
    warnings: list[Issue] = field(default_factory=list)
    # Hash of the raw record it was mapped from (sync.mapping.raw), stored on its source row so
    # the next import of the same row is skipped before mapping.
    raw_hash: str | None = None

    def payload(self) -> dict[str, Any]:
        """The normalised record as stored on its source row (JSON-safe)."""
        return {**self.fields, "extra_info": self.extra_info}

    def content_hash(self) -> str:
        """A hash of what the record says, so a replay of the same content is `unchanged`."""
        canonical = json.dumps(self.payload(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class MappingSpec:
    """How one layout's columns map onto one kind's documented fields."""

    kind: str = "customers"
    # Documented field -> candidate columns, first non-empty wins.
    fields: dict[str, list[str]] = field(default_factory=dict)
    id_columns: list[str] = field(default_factory=list)
    modstamp_columns: list[str] = field(default_factory=list)
    deleted_columns: list[str] = field(default_factory=list)
    date_formats: tuple[str, ...] = DAY_FIRST_FORMATS
    phone_region: str | None = None
    # Columns mapped to nothing but not worth keeping in extraInfo (internal noise).
    ignore_columns: list[str] = field(default_factory=list)
    # Turns a nested raw record (an API's JSON) into the flat columns above; a module-level
    # function, so a spec still pickles into the mapping pool.
    prepare: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    # Fields whose bad value is dropped with a warning where it would reject the record
    # (an API's unverified e-mail should not cost the rest of the profile).
    lenient: frozenset[str] = frozenset()

    @cached_property
    def claimed(self) -> frozenset[str]:
        """Header keys some field or setting reads; the rest go to extraInfo."""
        groups = [*self.fields.values(), self.id_columns, self.modstamp_columns, self.deleted_columns]
        return frozenset(header_key(c) for g in [*groups, self.ignore_columns] for c in g)

    def __post_init__(self) -> None:
        known = KIND_FIELDS[self.kind]
        unknown = sorted(set(self.fields) - set(known))
        if unknown:
            raise ValueError(f"unknown {self.kind} field(s) in mapping: {', '.join(unknown)}")


def _first(raw: Mapping[str, Any], columns: Sequence[str]) -> tuple[str | None, Any]:
    for column in columns:
        value = raw.get(header_key(column))
        if value is not None and (not isinstance(value, str) or value.strip() != ""):
            return column, value
    return None, None


def _read_int(value: str) -> int:
    try:
        return int(Decimal(value.strip()))
    except (InvalidOperation, ValueError):
        raise FieldError("invalid_number", f"not a whole number: {value!r}") from None


def _read_decimal(value: str) -> str:
    cleaned = value.strip().replace(" ", "")
    # "1.234,50" (comma decimal) and "1,234.50" (comma thousands) both occur in exports.
    if "," in cleaned and "." in cleaned:
        cleaned = (
            cleaned.replace(",", "")
            if cleaned.rfind(".") > cleaned.rfind(",")
            else (cleaned.replace(".", "").replace(",", "."))
        )
    elif "," in cleaned:
        cleaned = cleaned.replace(",", ".")
    cleaned = cleaned.lstrip("$€£")
    try:
        return str(Decimal(cleaned).quantize(Decimal("0.01")))
    except InvalidOperation:
        raise FieldError("invalid_number", f"not an amount: {value!r}") from None


def _reader(how: str, spec: MappingSpec, region: str | None) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        if isinstance(value, bool | int | float | Decimal | date):
            if how == "date" and isinstance(value, datetime):
                return value.date().isoformat()
            if isinstance(value, date):
                return value.isoformat()
            return value
        text = str(value)
        match how:
            case "text":
                return clean_text(text)
            case "upper":
                cleaned = clean_text(text)
                return cleaned.upper() if cleaned else None
            case "email" | "email_optional":
                return normalize_email(text)
            case "phone":
                return normalize_phone(text, region or spec.phone_region)
            case "date":
                return normalize_date(text, spec.date_formats).isoformat()
            case "datetime":
                return normalize_datetime(text).isoformat()
            case "gender":
                return normalize_gender(text)
            case "country":
                return normalize_country(text)
            case "int":
                return _read_int(text)
            case "decimal_required":
                return _read_decimal(text)
            case "bool":
                return normalize_bool(text)
            case "list":
                return [t.strip() for t in re.split(r"[,;]", text) if t.strip()]
        raise AssertionError(how)

    return read


def _region_of(raw: Mapping[str, Any], spec: MappingSpec) -> str | None:
    # National phone numbers are read in the record's own country when it has one.
    _, country = _first(raw, spec.fields.get("country", []))
    if isinstance(country, str) and country.strip():
        try:
            return normalize_country(country)
        except FieldError:
            return None
    return None


def derive_source_id(fields: Mapping[str, Any]) -> str | None:
    """A stable id for a layout without an id column: the normalised e-mail, else the phone."""
    if fields.get("email"):
        return f"email:{fields['email']}"
    if fields.get("phone_number"):
        return f"phone:{fields['phone_number']}"
    return None


def map_record(record: SourceRecord, spec: MappingSpec) -> Draft | Issue:
    """Normalise one raw record into a draft; a record that cannot be identified is rejected."""
    source_fields = spec.prepare(record.fields) if spec.prepare is not None else record.fields
    raw = {header_key(k): v for k, v in source_fields.items()}
    known = KIND_FIELDS[spec.kind]
    region = _region_of(raw, spec) if spec.kind == "customers" else None
    fields: dict[str, Any] = {}
    warnings: list[Issue] = []
    for documented, columns in spec.fields.items():
        column, value = _first(raw, columns)
        if column is None:
            continue
        store_key, how = known[documented]
        try:
            fields[store_key] = _reader(how, spec, region)(value)
        except FieldError as exc:
            issue = Issue(exc.reason, str(exc), record.position, record.source_id, documented, _raw(value))
            if how in ("email", "decimal_required") and documented not in spec.lenient:
                return issue
            warnings.append(issue)

    source_id = record.source_id
    if source_id is None:
        _, id_value = _first(raw, spec.id_columns)
        source_id = clean_text(str(id_value)) if id_value is not None else None
    if source_id is None and spec.kind == "customers":
        source_id = derive_source_id(fields)
    if source_id is None:
        return Issue(
            "no_identifier",
            "the record has no id, and no e-mail or phone to derive one from",
            record.position,
            None,
            raw=_raw(source_fields),
        )

    modstamp = record.modstamp
    if modstamp is None:
        _, stamp = _first(raw, spec.modstamp_columns)
        if stamp is not None:
            try:
                modstamp = normalize_datetime(str(stamp))
            except FieldError as exc:
                warnings.append(Issue(exc.reason, str(exc), record.position, source_id, "modstamp"))
    deleted = record.deleted
    _, flag = _first(raw, spec.deleted_columns)
    if flag is not None:
        try:
            deleted = deleted or normalize_bool(str(flag))
        except FieldError as exc:
            warnings.append(Issue(exc.reason, str(exc), record.position, source_id, "deleted"))

    # Nothing in a file is dropped: columns no field claims travel along in extraInfo.
    extra = {
        k: v
        for k, v in source_fields.items()
        if header_key(k) not in spec.claimed and v is not None and v != "" and k != "attributes"
    }
    for w in warnings:
        w.source_id = source_id
    return Draft(source_id, fields, extra, modstamp, deleted, record.position, warnings)


def _raw(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text[:1000]
