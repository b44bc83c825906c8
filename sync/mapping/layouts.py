"""Layouts: the bundled CSV presets, the `native` layout, and user mapping files (TOML)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import FatalSourceError
from models.enums import UserEntitySource
from sync.mapping.normalize import DATE_ORDERS
from sync.mapping.spec import KIND_FIELDS, KIND_ID_FIELD, KINDS, MappingSpec, header_key

PRESETS: tuple[str, ...] = (
    "shopify",
    "mailchimp",
    "hubspot",
    "salesforce-dataloader",
    "google-contacts",
    "outlook",
    "woocommerce",
    "klaviyo",
    "native",
)

# A header that recognises a layout: (what it is, e.g. "current", its columns).
Signature = tuple[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Layout:
    """A mapping spec with the source it names and the headers that recognise it."""

    name: str
    spec: MappingSpec
    source: str
    entity_source: str
    # The stable columns of each real header the layout reads (a product's current and older
    # exports); auto-detection scores a file by the share of them it has.
    detect: tuple[Signature, ...] = ()
    # "preset", "mapping" (a user's file: every column it names must exist) or "header"
    # (recognised from the header's own names).
    origin: str = "preset"
    description: str = ""


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _signatures(value: Any) -> tuple[Signature, ...]:
    # `detect = [...]` is one header; `[detect]` with `name = [...]` entries names several.
    if isinstance(value, dict):
        return tuple((str(name), tuple(_as_list(columns))) for name, columns in value.items())
    columns = tuple(_as_list(value))
    return (("header", columns),) if columns else ()


def layout_from_toml(name: str, data: dict[str, Any], kind: str | None = None) -> Layout:
    """Build a layout from a parsed mapping file; raise ValueError on anything off."""
    kind = kind or str(data.get("kind", "customers"))
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    if data.get("kind", kind) != kind:
        raise ValueError(f"mapping is for {data['kind']!r}, not {kind!r}")
    fields = data.get("fields", {})
    if not isinstance(fields, dict):
        raise ValueError("[fields] must be a table of field = column(s)")
    formats = tuple(_as_list(data.get("date_formats")))
    order = data.get("date_order")
    if order is not None and order not in DATE_ORDERS:
        raise ValueError("date_order must be 'day-first' or 'month-first'")
    timezone = check_timezone(data.get("timezone"))
    id_format = data.get("id_format")
    if id_format not in (None, "salesforce"):
        raise ValueError("id_format must be 'salesforce' when given")
    separator = data.get("multi_value_separator")
    if separator is not None and (not isinstance(separator, str) or not separator.strip()):
        raise ValueError("multi_value_separator must be a non-blank string such as ' ::: '")
    entity = str(data.get("entity_source", "CSV")).upper()
    if entity not in UserEntitySource.__members__:
        raise ValueError(f"unknown entity_source {entity!r}")
    spec = MappingSpec(
        kind=kind,
        fields={k: _as_list(v) for k, v in fields.items()},
        id_columns=_as_list(data.get("id")),
        modstamp_columns=_as_list(data.get("modstamp")),
        deleted_columns=_as_list(data.get("deleted")),
        date_formats=formats,
        date_order=order,
        phone_region=data.get("phone_region"),
        ignore_columns=_as_list(data.get("ignore")),
        id_format=id_format,
        multi_value_separator=separator,
        timezone=timezone,
        blank_values=frozenset(_as_list(data.get("blank_values"))),
        special_use_emails=True,
    )
    return Layout(
        name,
        spec,
        str(data.get("source", "csv")),
        entity,
        _signatures(data.get("detect")),
        description=str(data.get("description", "")),
    )


def check_timezone(name: Any) -> str | None:
    """An IANA time zone name as given (None stays None); ValueError naming it otherwise."""
    if name is None:
        return None
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin, or UTC)") from None
    return str(name)


def native_layout(kind: str) -> Layout:
    """Columns named as the documented fields themselves (`entitySourceId`, `phoneNumber`, …)."""
    fields = {name: [name] for name in KIND_FIELDS[kind]}
    id_field = KIND_ID_FIELD[kind]
    spec = MappingSpec(
        kind=kind,
        fields=fields,
        id_columns=[id_field],
        modstamp_columns=["updatedAt"],
        deleted_columns=["deleted"],
        special_use_emails=True,
    )
    return Layout(
        "native",
        spec,
        "csv",
        "CSV",
        (("documented names", (id_field,)),),
        description=f"{kind} in columns named as the documented fields",
    )


def preset(name: str, kind: str = "customers") -> Layout:
    """A bundled preset by name."""
    if name == "native":
        return native_layout(kind)
    if name not in PRESETS:
        raise FatalSourceError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    text = resources.files("sync.mapping").joinpath(f"presets/{name}.toml").read_text("utf-8")
    layout = layout_from_toml(name, tomllib.loads(text))
    if layout.spec.kind != kind:
        raise FatalSourceError(f"preset {name!r} reads {layout.spec.kind}, not {kind}")
    return layout


def load_mapping(path: Path, kind: str | None = None) -> Layout:
    """A user's mapping file; any problem is one clear FatalSourceError."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise FatalSourceError(f"no such mapping file: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FatalSourceError(f"mapping file {path} is not valid TOML: {exc}") from None
    try:
        return replace(layout_from_toml(path.stem, data, kind), origin="mapping")
    except ValueError as exc:
        raise FatalSourceError(f"bad mapping file {path}: {exc}") from None


# The common spellings of the documented customer fields in exports of every kind, in one
# table: a file headed `Customer ID;First Name;Surname;E-mail;Mobile` needs no mapping file.
# Compared case-blind, with `_ - . /` read as spaces; each field's own name counts as well.
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "entitySourceId": (
        "id", "customer id", "customer number", "customer no", "client id", "contact id",
        "member id", "record id", "external id",
    ),
    "email": ("e-mail", "email address", "e-mail address", "mail", "email id"),
    "firstname": ("first name", "given name", "forename", "first"),
    "lastname": ("last name", "surname", "family name", "last"),
    "phoneNumber": (
        "phone", "phone number", "mobile", "mobile phone", "mobile number", "cell", "cell phone",
        "telephone", "tel",
    ),
    "birthday": ("birthdate", "birth date", "date of birth", "dob"),
    "gender": ("sex",),
    "country": ("country code", "country region"),
    "city": ("town",),
    "street": ("street address", "address line 1", "address 1", "address1"),
    "zipCode": ("zip", "zip code", "postal code", "postcode", "post code"),
    "address": ("full address",),
}  # fmt: skip

_SYNONYM_SEPARATORS = re.compile(r"[\s_\-./]+")


def synonym_key(name: str) -> str:
    """How header synonyms compare: case-blind, `_ - . /` and runs of space as one space."""
    return _SYNONYM_SEPARATORS.sub(" ", name).strip().lower()


def _synonyms(kind: str) -> dict[str, str]:
    table: dict[str, str] = {}
    names = [*KIND_FIELDS[kind], KIND_ID_FIELD[kind]]
    for documented in names:
        table[synonym_key(documented)] = documented
    if kind == "customers":
        for documented, spellings in HEADER_SYNONYMS.items():
            for spelling in spellings:
                table.setdefault(synonym_key(spelling), documented)
    return table


def header_layout(header: list[str], kind: str) -> Layout | None:
    """A layout read off the header's own names and their synonyms, or None if it names no field.

    It is `native` when every column it uses is a documented name, else `generic`.
    """
    table = _synonyms(kind)
    id_field = KIND_ID_FIELD[kind]
    fields: dict[str, list[str]] = {}
    ids: list[str] = []
    exact = True
    for column in header:
        documented = table.get(synonym_key(column))
        if documented is None:
            continue
        exact = exact and header_key(column) == header_key(documented)
        if documented == id_field:
            ids.append(column)
        else:
            fields.setdefault(documented, []).append(column)
    if not fields:
        return None
    native = native_layout(kind)
    spec = replace(native.spec, fields=fields, id_columns=ids or [id_field])
    return Layout("native" if exact else "generic", spec, "csv", "CSV", origin="header")


# Salesforce's audit columns, on every object a Data Loader extract can hold.
_SALESFORCE_AUDIT = frozenset(
    {"systemmodstamp", "createdbyid", "lastmodifiedbyid", "createddate", "lastmodifieddate", "ownerid"}
)
# Columns only the other objects people extract by mistake have (a Contact has none of them).
_SALESFORCE_OBJECTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Accounts", frozenset({"billingstreet", "billingcity", "billingcountry", "shippingstreet",
                            "accountnumber", "industry", "annualrevenue", "numberofemployees"})),
    ("Opportunities", frozenset({"stagename", "closedate", "probability", "forecastcategory",
                                 "iswon", "isclosed", "expectedrevenue"})),
)  # fmt: skip


def salesforce_object(header: list[str]) -> str | None:
    """The other object a Salesforce extract holds (`Accounts`, `Opportunities`), if not Contacts."""
    present = {header_key(h) for h in header}
    if "id" not in present or len(present & _SALESFORCE_AUDIT) < 2 or "lastname" in present:
        return None
    for name, columns in _SALESFORCE_OBJECTS:
        if len(present & columns) >= 2:
            return name
    return None


def refuse_other_salesforce_object(header: list[str]) -> None:
    """One line instead of Accounts or Opportunities imported as customers."""
    found = salesforce_object(header)
    if found is not None:
        raise FatalSourceError(
            f"this is a Salesforce extract of {found}, not Contacts: "
            "extract the Contact object (Id, FirstName, LastName, Email, …) to import customers"
        )


def _either(columns: list[str]) -> str:
    return " or ".join(repr(c) for c in columns)


def _check_columns(layout: Layout, header: list[str], present: set[str]) -> None:
    spec = layout.spec
    if layout.name == "salesforce-dataloader" and layout.origin == "preset":
        refuse_other_salesforce_object(header)

    def absent(columns: list[str]) -> bool:
        return bool(columns) and not any(header_key(c) in present for c in columns)

    if layout.origin == "mapping":
        missing = [_either(cols) for cols in spec.fields.values() if absent(cols)]
        missing += [_either(g) for g in (spec.id_columns, spec.modstamp_columns) if absent(g)]
        if missing:
            raise FatalSourceError(
                f"mapping {layout.name!r} names columns the file's header lacks: {', '.join(missing)}"
            )
        return
    identifying = [*spec.id_columns, *spec.fields.get("email", []), *spec.fields.get("phoneNumber", [])]
    if identifying and absent(identifying):
        raise FatalSourceError(
            f"the file's header has none of the columns preset {layout.name!r} identifies rows by "
            f"({', '.join(repr(c) for c in identifying)}); is it a {layout.name} export?"
        )


def bind_layout(
    layout: Layout, header: list[str], duplicates: dict[str, str]
) -> tuple[Layout, dict[str, str]]:
    """The layout fitted to one file's header, and where each of its columns goes.

    Raises FatalSourceError, naming them, when the columns a mapping or preset reads are not
    there: that is one clear line instead of every row rejected. A repeated column becomes the
    next candidate of the field, id, stamp or deleted flag its first copy feeds.
    """
    present = {header_key(h) for h in header}
    _check_columns(layout, header, present)
    spec = layout.spec
    repeats: dict[str, list[str]] = {}
    for dup, original in duplicates.items():
        repeats.setdefault(header_key(original), []).append(dup)
    if repeats:
        spec = replace(
            spec,
            fields={
                documented: _with_repeats(columns, repeats) for documented, columns in spec.fields.items()
            },
            # Read as fields are, so a blank first copy falls through to the next (README's
            # bad-input table): a blank id must not turn into one derived from the e-mail.
            id_columns=_with_repeats(spec.id_columns, repeats),
            modstamp_columns=_with_repeats(spec.modstamp_columns, repeats),
            deleted_columns=_with_repeats(spec.deleted_columns, repeats),
            duplicates={header_key(d): header_key(o) for d, o in duplicates.items()},
        )
        layout = replace(layout, spec=spec)
    return layout, column_destinations(spec, header)


def _with_repeats(columns: list[str], repeats: dict[str, list[str]]) -> list[str]:
    """`columns` with each one's repeats (by header key) right after it, in the header's order."""
    return [c2 for c in columns for c2 in (c, *repeats.get(header_key(c), []))]


def column_destinations(spec: MappingSpec, header: list[str]) -> dict[str, str]:
    """Each header column and the documented field it feeds (`extraInfo` for the rest)."""
    where: dict[str, str] = {}
    for documented, columns in spec.fields.items():
        for column in columns:
            where.setdefault(header_key(column), documented)
    groups = (
        (spec.id_columns, KIND_ID_FIELD[spec.kind]),
        (spec.modstamp_columns, "updatedAt"),
        (spec.deleted_columns, "deleted"),
        (spec.ignore_columns, "ignored"),
    )
    for columns, name in groups:
        for column in columns:
            where.setdefault(header_key(column), name)
    return {h: where.get(header_key(h), "extraInfo") for h in header if h}


def describe_layout(layout: Layout) -> dict[str, Any]:
    """A layout as plain data: where each column goes and the headers that recognise it."""
    spec = layout.spec
    return {
        "name": layout.name,
        "description": layout.description,
        "kind": spec.kind,
        "source": layout.source,
        "entity_source": layout.entity_source,
        "id": list(spec.id_columns),
        "modstamp": list(spec.modstamp_columns),
        "deleted": list(spec.deleted_columns),
        "fields": {name: list(columns) for name, columns in spec.fields.items()},
        "ignore": list(spec.ignore_columns),
        "date_order": spec.date_order,
        "phone_region": spec.phone_region,
        "id_format": spec.id_format,
        "multi_value_separator": spec.multi_value_separator,
        "blank_values": sorted(spec.blank_values),
        "detect": {variant: list(columns) for variant, columns in layout.detect},
    }
