"""Raw-row hashes: what a record said before mapping, so an unchanged row is skipped unmapped."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

from connectors.base import RecordText, SourceRecord
from sync.mapping.spec import MappingSpec

# Bump when a normaliser's output changes for the same input: every row is then mapped again
# once (the stored hashes no longer match), so the store picks the new normalisation up.
# 2: the real-exports normalisers (phones, e-mails, dates, ZIPs, lengths) landed after 1.
# 3: 18-character Salesforce ids whose case was lost are restored from their suffix.
# 4: date-times a spreadsheet wrote (`09-06-2026 16:14`) are read, in the layout's time zone.
# 5: an unreadable phone or country falls back to the field's next column.
# 6: a record with its text as read (a CSV row) is hashed by that text and the stream's
#    `raw_context()` (delimiter, header), not by the fields built from it.
# 7: white space and invisible characters mixed at a text's ends all go; no-break spaces inside
#    an e-mail are removed (rows stored before are mapped once more).
RAW_HASH_VERSION = "7"


def _stable(value: Any) -> Any:
    # A callable (a spec's `prepare`) is named, not printed: its repr carries an address.
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if isinstance(value, frozenset | set):
        return sorted(map(str, value))
    return value


def spec_fingerprint(spec: MappingSpec) -> str:
    """Everything about the spec that decides what a raw row maps to, as one short string."""
    described = {f.name: _stable(getattr(spec, f.name)) for f in dataclasses.fields(spec)}
    text = json.dumps([RAW_HASH_VERSION, described], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def raw_hasher(spec: MappingSpec, context: str = "") -> Callable[[SourceRecord | RecordText], str]:
    """`record -> hash` of the raw record under this spec (32 hex digits).

    A record with its `raw` text (a CSV row, or its `RecordText`, the same hash) is hashed by that text and `context`, the
    stream's `raw_context()` (the delimiter and header a row is split by): the bytes of the
    file that decide the fields, without building them. Any other record is hashed by its
    fields as read (names and values, in the source's order), the id, stamp and deleted flag
    the connector gave. Both under the spec's fingerprint: the same row under another
    mapping or header is another hash.
    """
    fingerprint = spec_fingerprint(spec).encode()
    blake2b = hashlib.blake2b
    # The prefix state hashed once; each row's hash starts from a copy of it.
    with_context = blake2b(
        fingerprint + b"\x00raw\x00" + context.encode("utf-8", "surrogatepass") + b"\x00", digest_size=16
    )

    def digest(record: SourceRecord | RecordText) -> str:
        raw = record.raw
        if raw is not None:
            h = with_context.copy()
            h.update(raw.encode("utf-8", "surrogatepass"))
            return h.hexdigest()
        # repr, not JSON: as exact for the str/None/number/datetime values sources give, and
        # about twice as fast (this runs for every row of every import).
        assert isinstance(record, SourceRecord)  # a RecordText always has its text
        text = repr((record.source_id, record.modstamp, record.deleted, record.fields))
        return blake2b(fingerprint + text.encode(), digest_size=16).hexdigest()

    return digest
