"""Connectors: one module per source, each yielding `SourceRecord`s from its streams."""

from __future__ import annotations

from connectors.base import (
    FatalSourceError,
    PauseRun,
    ReadError,
    ReadWarning,
    RecordText,
    SourceRecord,
    SourceWarning,
    Stream,
    StreamContext,
    TransientSourceError,
)
from connectors.redact import REDACTED, redact

__all__ = [
    "REDACTED",
    "FatalSourceError",
    "PauseRun",
    "ReadError",
    "ReadWarning",
    "RecordText",
    "SourceRecord",
    "SourceWarning",
    "Stream",
    "StreamContext",
    "TransientSourceError",
    "redact",
]
