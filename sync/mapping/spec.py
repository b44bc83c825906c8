"""Mapping: a raw `SourceRecord` becomes a validated `Draft` of a documented object, or a `Reject`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import SourceRecord
from models import Customer, CustomerSource, Order, OrderType, Promotion, Redemption, Store
from sync.mapping.normalize import (
    FieldError,
    FieldWarning,
    clean_lines,
    clean_text,
    normalize_bool,
    normalize_country,
    normalize_email,
    normalize_gender,
    normalize_phone,
    read_date,
    read_datetime,
    read_email,
    read_phone,
    restore_postal_code,
    salesforce_id_18,
)

_SPACE_RUN = re.compile(r"\s+")
# A payload's canonical JSON (sorted keys, no spaces). One encoder, not one per `json.dumps` call:
# with `default` given, dumps builds a new one each time (a quarter of its cost).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)

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
        "street": ("street", "lines"),
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
    # `encode()`'s answer once worked out (in the mapping process, when there is a pool).
    encoded: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    def payload(self) -> dict[str, Any]:
        """The normalised record as stored on its source row (JSON-safe)."""
        return {**self.fields, "extra_info": self.extra_info}

    def encode(self) -> tuple[str, str]:
        """`(payload as canonical JSON, its sha256 in hex)`, worked out once per draft.

        The JSON (sorted keys, no spaces) is what the source row's payload is written from,
        and its hash is `content_hash`: one encoding serves both. A draft is not changed
        after mapping, so the answer is kept.
        """
        if self.encoded is None:
            canonical = _CANONICAL.encode(self.payload())
            self.encoded = (canonical, hashlib.sha256(canonical.encode()).hexdigest())
        return self.encoded

    def content_hash(self) -> str:
        """A hash of what the record says, so a replay of the same content is `unchanged`."""
        return self.encode()[1]

    def __reduce__(self) -> tuple[type[Draft], tuple[Any, ...]]:
        # As one tuple (pickled in C), not a slotted dataclass's per-object state dict: a
        # mapping pool sends thousands of drafts back per batch.
        return (
            Draft,
            (
                self.source_id,
                self.fields,
                self.extra_info,
                self.modstamp,
                self.deleted,
                self.position,
                self.warnings,
                self.raw_hash,
                self.encoded,
            ),
        )


@dataclass
class MappingSpec:
    """How one layout's columns map onto one kind's documented fields."""

    kind: str = "customers"
    # Documented field -> candidate columns, first non-empty wins.
    fields: dict[str, list[str]] = field(default_factory=dict)
    id_columns: list[str] = field(default_factory=list)
    modstamp_columns: list[str] = field(default_factory=list)
    deleted_columns: list[str] = field(default_factory=list)
    # Extra strptime formats a mapping file names; tried before the numeric d/m/y reading.
    date_formats: tuple[str, ...] = ()
    # Each date or date-time column's own evidence (`date_orders`, header key -> order, found
    # by reading the column) decides its day/month order; the layout's `date_order` decides
    # the columns whose values prove nothing.
    date_order: str | None = None
    date_orders: dict[str, str] = field(default_factory=dict)
    # The IANA zone of date-times written without an offset (spreadsheets drop it); None: UTC.
    timezone: str | None = None
    phone_region: str | None = None
    # Columns mapped to nothing but not worth keeping in extraInfo (internal noise).
    ignore_columns: list[str] = field(default_factory=list)
    # Turns a nested raw record (an API's JSON) into the flat columns above; a module-level
    # function, so a spec still pickles into the mapping pool.
    prepare: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    # Fields whose bad value is dropped with a warning where it would reject the record
    # (an API's unverified e-mail should not cost the rest of the profile).
    lenient: frozenset[str] = frozenset()
    # Keep addresses on special-use domains (`.test`, `.example`, …) with a warning instead of
    # rejecting them: a staging export is full of them. File layouts do; API sources decide.
    special_use_emails: bool = False
    # How the source writes its ids: "salesforce" turns 15-character ids into their 18-character form.
    id_format: str | None = None
    # How the source joins several values in one cell (Google Contacts: " ::: "): the first is
    # read, the others kept in extraInfo.
    multi_value_separator: str | None = None
    # Values the source writes for "none" (desktop Outlook's "0/0/00" birthday): read as empty.
    blank_values: frozenset[str] = frozenset()
    # A repeated header's suffixed name -> the name it repeats (header keys); the repeat is
    # read as the next candidate for the same field, and kept in extraInfo when not used.
    duplicates: dict[str, str] = field(default_factory=dict)

    @cached_property
    def plans(self) -> dict[tuple[str, ...], _Plan]:
        """Per header (the record's field names in order): what mapping works out once for it."""
        return {}

    @cached_property
    def claimed(self) -> frozenset[str]:
        """Header keys some field or setting reads; the rest go to extraInfo."""
        groups = [*self.fields.values(), self.id_columns, self.modstamp_columns, self.deleted_columns]
        return frozenset(header_key(c) for g in [*groups, self.ignore_columns] for c in g)

    def date_order_of(self, column: str) -> str | None:
        """The order numeric dates in `column` are read in: the column's evidence, else the layout's.

        Evidence wins: `25-12-1990` cannot be month-first, whatever a preset assumed.
        """
        return self.date_orders.get(header_key(column)) or self.date_order

    @cached_property
    def zone(self) -> tzinfo:
        """Where date-times without an offset were written."""
        return ZoneInfo(self.timezone) if self.timezone else UTC

    def __post_init__(self) -> None:
        known = KIND_FIELDS[self.kind]
        unknown = sorted(set(self.fields) - set(known))
        if unknown:
            raise ValueError(f"unknown {self.kind} field(s) in mapping: {', '.join(unknown)}")


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


# Shared by every `_Read` without extras: read-only, so one per row need not be allocated.
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


class _Read:
    """One field as read: its value, what to warn about, and what else goes to extraInfo."""

    __slots__ = ("extra", "value", "warnings")

    # Immutable defaults: a row reads a dozen fields, nearly all without either.
    def __init__(
        self, value: Any, warnings: Sequence[FieldWarning] = (), extra: Mapping[str, Any] = _NO_EXTRA
    ) -> None:
        self.value = value
        self.warnings = warnings
        self.extra = extra


def _read_field(how: str, value: Any, spec: MappingSpec, region: str | None, column: str) -> _Read:
    # A file's cells are all text: the type test is for API records.
    if type(value) is not str and isinstance(value, bool | int | float | Decimal | date):
        if how == "date" and isinstance(value, datetime):
            return _Read(value.date().isoformat())
        if isinstance(value, date):
            return _Read(value.isoformat())
        return _Read(value)
    text = str(value)
    match how:
        case "text":
            return _Read(clean_text(text))
        case "lines":
            return _Read(clean_lines(text))
        case "upper":
            cleaned = clean_text(text)
            return _Read(cleaned.upper() if cleaned else None)
        case "email" | "email_optional":
            if not spec.special_use_emails:
                return _Read(normalize_email(text))
            address, warning = read_email(text)
            return _Read(address, (warning,) if warning else ())
        case "phone":
            phone = read_phone(text, region or spec.phone_region)
            extra: dict[str, Any] = {}
            if phone.extension:
                extra["phoneExtension"] = phone.extension
            if phone.others:
                extra["otherPhoneNumbers"] = list(phone.others)
            return _Read(phone.number, phone.warnings, extra or _NO_EXTRA)
        case "date":
            return _Read(read_date(text, spec.date_order_of(column), spec.date_formats).isoformat())
        case "datetime":
            return _Read(read_datetime(text, spec.date_order_of(column), spec.zone).isoformat())
        case "gender":
            return _Read(normalize_gender(text))
        case "country":
            return _Read(normalize_country(text))
        case "int":
            return _Read(_read_int(text))
        case "decimal_required":
            return _Read(_read_decimal(text))
        case "bool":
            return _Read(normalize_bool(text))
        case "list":
            return _Read([t.strip() for t in re.split(r"[,;]", text) if t.strip()])
    raise AssertionError(how)


_KIND_TABLES: dict[str, Any] = {
    "customers": Customer,
    "orders": Order,
    "promotions": Promotion,
    "redemptions": Redemption,
}


@lru_cache(maxsize=8)
def column_limits(kind: str) -> dict[str, int]:
    """Store key -> the longest text its column holds, from the models (PostgreSQL enforces them)."""
    table = _KIND_TABLES[kind].__table__
    # SQLModel's AutoString is a TypeDecorator over String: read its length either way.
    limits = {
        column.name: length
        for column in table.columns
        if isinstance(length := getattr(column.type, "length", None), int) and length > 0
    }
    # Orders and promotions name their store and order type, which become rows of their own.
    if kind in ("orders", "promotions"):
        limits["store"] = Store.__table__.c.name.type.length  # type: ignore[attr-defined]
    if kind == "orders":
        limits["order_type"] = OrderType.__table__.c.name.type.length  # type: ignore[attr-defined]
    return limits


# The longest source id a source row holds.
SOURCE_ID_LIMIT: int = CustomerSource.__table__.c.source_id.type.length  # type: ignore[attr-defined]


def _region_of(raw: Mapping[str, Any], candidates: Candidates) -> str | None:
    # National phone numbers are read in the record's own country when it has one: the first
    # of its country columns that reads (`MailingCountry`, else `MailingCountryCode`).
    for _, key in candidates:
        country = raw.get(key)
        if isinstance(country, str) and country.strip():
            try:
                return normalize_country(country)
            except FieldError:
                continue
    return None


# Fields whose next column is tried when the first one's value cannot be read: a second phone
# (`MobilePhone`) or country (`MailingCountryCode`) is the same fact, written another way.
_FALL_BACK = frozenset({"phone", "country"})


def _next_readable(
    raw: Mapping[str, Any], fp: _FieldPlan, after: str, spec: MappingSpec, region: str | None
) -> tuple[str, Any, _Read] | None:
    columns = [column for column, _ in fp.candidates]
    for column in columns[columns.index(after) + 1 :]:
        found, value = _pick(raw, _candidates([column]))
        if found is None:
            continue
        try:
            return column, value, _read_field(fp.how, value, spec, region, column)
        except FieldError:
            continue
    return None


def derive_source_id(fields: Mapping[str, Any]) -> str | None:
    """A stable id for a layout without an id column: the normalised e-mail, else the phone."""
    if fields.get("email"):
        return f"email:{fields['email']}"
    if fields.get("phone_number"):
        return f"phone:{fields['phone_number']}"
    return None


def _source_id(record: SourceRecord, id_value: Any, spec: MappingSpec) -> str | None:
    if record.source_id is None:
        return given_source_id(id_value, spec)
    return salesforce_id_18(record.source_id) if spec.id_format == "salesforce" else record.source_id


def given_source_id(id_value: Any, spec: MappingSpec) -> str | None:
    """The source id an id column's value (`_pick`'s, not blank) reads as under `spec`; None if
    it holds only invisible characters (the record's id is then derived, `derive_source_id`)."""
    source_id = clean_text(str(id_value)) if id_value is not None else None
    if source_id is not None and spec.id_format == "salesforce":
        source_id = salesforce_id_18(source_id)
    return source_id


Candidates = tuple[tuple[str, str], ...]  # (column as the spec names it, its header key)


def _candidates(columns: Sequence[str]) -> Candidates:
    return tuple((c, header_key(c)) for c in columns)


def _pick(raw: Mapping[str, Any], candidates: Candidates) -> tuple[str | None, Any]:
    """The first candidate column with a non-blank value (header keys worked out beforehand)."""
    for column, key in candidates:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or value.strip() != ""):
            return column, value
    return None, None


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    documented: str
    store_key: str
    how: str
    candidates: Candidates
    limit: int | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """What `map_record` works out once per spec and header, instead of once per record."""

    keys: tuple[str, ...]  # header key of each source field, in the source's order
    fields: tuple[_FieldPlan, ...]
    country: Candidates
    ids: Candidates
    modstamps: Candidates
    deleted: Candidates
    # Per source field: 0 never goes to extraInfo, 1 always (no field claims it), 2 when its
    # field did not use it (a repeated column).
    extra: tuple[int, ...]


def _plan(spec: MappingSpec, names: tuple[str, ...]) -> _Plan:
    plans = spec.plans
    plan = plans.get(names)
    if plan is not None:
        return plan
    known = KIND_FIELDS[spec.kind]
    limits = column_limits(spec.kind)
    claimed, duplicates = spec.claimed, spec.duplicates
    keys = tuple(header_key(n) for n in names)
    plan = _Plan(
        keys,
        tuple(
            _FieldPlan(
                documented,
                known[documented][0],
                known[documented][1],
                _candidates(columns),
                limits.get(known[documented][0]),
            )
            for documented, columns in spec.fields.items()
        ),
        _candidates(spec.fields.get("country", [])),
        _candidates(spec.id_columns),
        _candidates(spec.modstamp_columns),
        _candidates(spec.deleted_columns),
        tuple(
            0 if n == "attributes" else 1 if k not in claimed else 2 if k in duplicates else 0
            for n, k in zip(names, keys, strict=True)
        ),
    )
    if len(plans) < 64:  # API sources may vary their keys record by record
        plans[names] = plan
    return plan


def _read_raw(record: SourceRecord, spec: MappingSpec) -> tuple[Mapping[str, Any], _Plan, dict[str, Any]]:
    """A record's fields as `spec` reads them, its plan, and its values by header key (blanks None)."""
    source_fields = spec.prepare(record.fields) if spec.prepare is not None else record.fields
    plan = _plan(spec, tuple(source_fields))
    raw = dict(zip(plan.keys, source_fields.values(), strict=True))
    if spec.blank_values:
        raw = {
            k: None if isinstance(v, str) and v.strip() in spec.blank_values else v for k, v in raw.items()
        }
    return source_fields, plan, raw


def record_source_id(record: SourceRecord, spec: MappingSpec) -> str | None:
    """The source id `map_record` gives `record` when it has one of its own (its id column's);
    None when its id would be derived from its e-mail or phone, or it has none."""
    _, plan, raw = _read_raw(record, spec)
    return _source_id(record, _pick(raw, plan.ids)[1], spec)


def map_record(record: SourceRecord, spec: MappingSpec) -> Draft | Issue:
    """Normalise one raw record into a draft; a record that cannot be identified is rejected."""
    source_fields, plan, raw = _read_raw(record, spec)
    position = record.position
    region = _region_of(raw, plan.country) if spec.kind == "customers" else None
    # The id first, so that every reject of this record names it.
    id_column, id_value = _pick(raw, plan.ids)
    given_id = _source_id(record, id_value, spec)
    fields: dict[str, Any] = {}
    extra_read: dict[str, Any] = {}
    warnings: list[Issue] = [
        Issue(w.reason, w.message, w.position or position, field=None) for w in record.warnings
    ]
    # Header keys whose value was read; a repeated column's goes to extraInfo only if not.
    used: set[str] = set()
    if id_column is not None:
        used.add(header_key(id_column))
    separator = spec.multi_value_separator
    for fp in plan.fields:
        # `_pick`, inline: it runs for every field of every row.
        for column, key in fp.candidates:  # noqa: B007 (both read after the break)
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or value.strip()):
                break
        else:
            continue
        used.add(key)
        documented = fp.documented
        if separator and isinstance(value, str):
            value, others = _split_values(value, separator)
            if others:
                kept = _OTHER_VALUES.get(fp.how, column)
                extra_read[kept] = [*extra_read.get(kept, []), *_read_others(fp.how, others, spec, region)]
        try:
            read = _read_field(fp.how, value, spec, region, column)
        except FieldError as exc:
            issue = Issue(exc.reason, str(exc), position, given_id, documented, _raw(value))
            if fp.how in ("email", "decimal_required") and documented not in spec.lenient:
                return issue
            fallback = _next_readable(raw, fp, column, spec, region) if fp.how in _FALL_BACK else None
            warnings.append(issue)
            if fallback is None:
                continue
            column, value, read = fallback
            used.add(header_key(column))
            issue.message += f"; {column!r} was read instead"
        limit = fp.limit
        if limit and isinstance(read.value, str) and len(read.value) > limit:
            warnings.append(
                Issue(
                    "too_long",
                    f"{documented} is {len(read.value)} characters long; at most {limit} fit, so it was dropped",
                    position,
                    given_id,
                    documented,
                    _raw(value),
                )
            )
            continue
        fields[fp.store_key] = read.value
        for name, found in read.extra.items():
            # A list (more phone numbers) joins the values split off the same cell above.
            if isinstance(found, list) and isinstance(extra_read.get(name), list):
                extra_read[name] = [*found, *extra_read[name]]
            else:
                extra_read[name] = found
        if read.warnings:
            warnings.extend(Issue(w.reason, w.message, position, given_id, documented) for w in read.warnings)

    if spec.kind == "customers" and fields.get("zip_code"):
        restored = restore_postal_code(fields["zip_code"], fields.get("country"))
        if restored:
            warnings.append(
                Issue(
                    "zip_padded",
                    f"ZIP {fields['zip_code']!r} lost its leading zeros: stored as {restored!r}",
                    position,
                    given_id,
                    "zipCode",
                    fields["zip_code"],
                )
            )
            fields["zip_code"] = restored

    source_id = given_id
    if source_id is None and spec.kind == "customers":
        source_id = derive_source_id(fields)
    if source_id is None:
        return Issue(
            "no_identifier",
            "the record has no id, and no e-mail or phone to derive one from",
            position,
            None,
            raw=_raw(source_fields),
        )
    if len(source_id) > SOURCE_ID_LIMIT:
        return Issue(
            "too_long",
            f"the id is {len(source_id)} characters long; at most {SOURCE_ID_LIMIT} fit",
            position,
            None,
            KIND_ID_FIELD[spec.kind],
            _raw(source_id),
        )

    modstamp = record.modstamp
    if modstamp is None and plan.modstamps:
        stamp_column, stamp = _pick(raw, plan.modstamps)
        if stamp_column is not None:
            used.add(header_key(stamp_column))
            try:
                modstamp = read_datetime(str(stamp), spec.date_order_of(stamp_column), spec.zone)
            except FieldError as exc:
                warnings.append(Issue(exc.reason, str(exc), position, source_id, "modstamp"))
    deleted = record.deleted
    flag_column, flag = _pick(raw, plan.deleted)
    if flag_column is not None:
        used.add(header_key(flag_column))
        try:
            deleted = deleted or normalize_bool(str(flag))
        except FieldError as exc:
            warnings.append(Issue(exc.reason, str(exc), position, source_id, "deleted"))

    # Nothing in a file is dropped: columns no field claims travel along in extraInfo, and so
    # does a repeated column whose value its field did not take.
    extra = {
        k: v
        for (k, v), rule, key in zip(source_fields.items(), plan.extra, plan.keys, strict=True)
        if rule and v is not None and v != "" and (rule == 1 or key not in used)
    }
    if extra_read:
        extra.update(extra_read)
    for w in warnings:
        w.source_id = source_id
    return Draft(source_id, fields, extra, modstamp, deleted, position, warnings)


# Where the values after the first of a multi-value cell go, by how its field is read.
_OTHER_VALUES = {"email": "otherEmails", "email_optional": "otherEmails", "phone": "otherPhoneNumbers"}


def _split_values(value: str, separator: str) -> tuple[str, list[str]]:
    """The first of the values joined by `separator`, and the others."""
    values = [v.strip() for v in value.split(separator) if v.strip()]
    return (values[0], values[1:]) if values else (value, [])


def _read_others(how: str, values: list[str], spec: MappingSpec, region: str | None) -> list[str]:
    """The values after a cell's first, read as its field reads them; as given when they cannot be."""
    read: list[str] = []
    for value in values:
        try:
            if how == "phone":
                read.append(normalize_phone(value, region or spec.phone_region))
            elif how in ("email", "email_optional"):
                read.append(normalize_email(value, allow_special_use=spec.special_use_emails))
            else:
                read.append(clean_text(value) or value)
        except FieldError:
            read.append(value)
    return read


def _raw(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text[:1000]
