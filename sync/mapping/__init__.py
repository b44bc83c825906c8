"""Mapping: raw records to validated drafts (spec, normalisers, loyalty ids, CSV layouts and presets)."""

from __future__ import annotations

from sync.mapping.layouts import PRESETS, Layout, detect_layout, load_mapping, native_layout, preset
from sync.mapping.loyalty_id import new_loyalty_id
from sync.mapping.normalize import (
    DAY_FIRST_FORMATS,
    MONTH_FIRST_FORMATS,
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
from sync.mapping.raw import raw_hasher, spec_fingerprint
from sync.mapping.spec import (
    KIND_FIELDS,
    KIND_ID_FIELD,
    KINDS,
    Draft,
    Issue,
    MappingSpec,
    header_key,
    map_record,
)
from sync.mapping.spotify import SPOTIFY_SPEC, spotify_profile_fields

__all__ = [
    "DAY_FIRST_FORMATS",
    "KINDS",
    "KIND_FIELDS",
    "KIND_ID_FIELD",
    "MONTH_FIRST_FORMATS",
    "PRESETS",
    "SPOTIFY_SPEC",
    "Draft",
    "FieldError",
    "Issue",
    "Layout",
    "MappingSpec",
    "clean_text",
    "detect_layout",
    "header_key",
    "load_mapping",
    "map_record",
    "native_layout",
    "new_loyalty_id",
    "normalize_bool",
    "normalize_country",
    "normalize_date",
    "normalize_datetime",
    "normalize_email",
    "normalize_gender",
    "normalize_phone",
    "preset",
    "raw_hasher",
    "spec_fingerprint",
    "spotify_profile_fields",
]
