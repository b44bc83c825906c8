"""Mapping: raw records to validated drafts (spec, normalisers, loyalty ids, CSV layouts and presets)."""

from __future__ import annotations

from sync.mapping.detect import FIT, PresetFit, detect_layout, score_presets
from sync.mapping.layouts import (
    HEADER_SYNONYMS,
    PRESETS,
    Layout,
    bind_layout,
    check_timezone,
    column_destinations,
    describe_layout,
    load_mapping,
    native_layout,
    preset,
    salesforce_object,
)
from sync.mapping.loyalty_id import new_loyalty_id
from sync.mapping.normalize import (
    DAY_FIRST_FORMATS,
    MONTH_FIRST_FORMATS,
    DateOrderVote,
    FieldError,
    clean_text,
    normalize_bool,
    normalize_country,
    normalize_date,
    normalize_datetime,
    normalize_email,
    normalize_gender,
    normalize_phone,
    read_datetime,
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
from sync.mapping.survey import ColumnSurvey, apply_survey, damaged_id_warning

__all__ = [
    "DAY_FIRST_FORMATS",
    "FIT",
    "HEADER_SYNONYMS",
    "KINDS",
    "KIND_FIELDS",
    "KIND_ID_FIELD",
    "MONTH_FIRST_FORMATS",
    "PRESETS",
    "SPOTIFY_SPEC",
    "ColumnSurvey",
    "DateOrderVote",
    "Draft",
    "FieldError",
    "Issue",
    "Layout",
    "MappingSpec",
    "PresetFit",
    "apply_survey",
    "bind_layout",
    "check_timezone",
    "clean_text",
    "column_destinations",
    "damaged_id_warning",
    "describe_layout",
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
    "read_datetime",
    "salesforce_object",
    "score_presets",
    "spec_fingerprint",
    "spotify_profile_fields",
]
