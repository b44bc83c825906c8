"""Layouts: the bundled CSV presets, the `native` layout, and user mapping files (TOML)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from connectors.base import FatalSourceError
from models.enums import UserEntitySource
from sync.mapping.normalize import DAY_FIRST_FORMATS, MONTH_FIRST_FORMATS
from sync.mapping.spec import KIND_FIELDS, KIND_ID_FIELD, KINDS, MappingSpec, header_key

PRESETS: tuple[str, ...] = ("shopify", "mailchimp", "hubspot", "salesforce-dataloader", "native")


@dataclass(frozen=True, slots=True)
class Layout:
    """A mapping spec with the source it names and the headers that recognise it."""

    name: str
    spec: MappingSpec
    source: str
    entity_source: str
    detect: tuple[str, ...] = ()


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


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
    if "date_formats" in data:
        formats = tuple(_as_list(data["date_formats"]))
    else:
        order = data.get("date_order", "day-first")
        if order not in ("day-first", "month-first"):
            raise ValueError("date_order must be 'day-first' or 'month-first'")
        formats = DAY_FIRST_FORMATS if order == "day-first" else MONTH_FIRST_FORMATS
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
        phone_region=data.get("phone_region"),
        ignore_columns=_as_list(data.get("ignore")),
    )
    return Layout(name, spec, str(data.get("source", "csv")), entity, tuple(_as_list(data.get("detect"))))


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
        date_formats=(*DAY_FIRST_FORMATS,),
    )
    return Layout("native", spec, "csv", "CSV", (id_field,))


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
        return layout_from_toml(path.stem, data, kind)
    except ValueError as exc:
        raise FatalSourceError(f"bad mapping file {path}: {exc}") from None


def detect_layout(header: list[str], kind: str) -> Layout:
    """The preset whose signature headers the file has; else `native` if it speaks the fields."""
    present = {header_key(h) for h in header}
    if kind == "customers":
        for name in PRESETS[:-1]:
            layout = preset(name)
            if all(header_key(h) in present for h in layout.detect):
                return layout
    native = native_layout(kind)
    known = {header_key(c) for cols in native.spec.fields.values() for c in cols}
    known |= {header_key(c) for c in native.spec.id_columns}
    if present & known:
        return native
    raise FatalSourceError(
        "cannot tell the layout of this file from its header; "
        f"pass --preset ({', '.join(PRESETS)}) or --mapping FILE"
    )
