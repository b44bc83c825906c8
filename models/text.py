"""Text the store cannot hold: NUL characters and lone UTF-16 surrogates, found in any JSON shape."""

from __future__ import annotations

from typing import Any

NUL = "NUL (\\u0000) characters"
SURROGATE = "lone surrogates (\\ud800-\\udfff)"


def unstorable(text: str) -> str | None:
    """What in `text` no column can take, or None.

    PostgreSQL's text and jsonb refuse U+0000; a lone surrogate (which JSON's `\\ud800` escape
    produces) has no UTF-8 form, so no driver can send it. Returns `NUL` or `SURROGATE`.
    """
    if "\x00" in text:
        return NUL
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE
    return None


def storable(text: str | None) -> str | None:
    """`text` as the store can keep it: a NUL written `\\x00`, a lone surrogate `\\udXXX`.

    For text that quotes what a source sent (a reject's raw row, its message), so the record of
    why a row was refused can be written even when the reason is such a character.
    """
    if text is None or unstorable(text) is None:
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def unstorable_in(value: Any) -> str | None:
    """`unstorable` over every key and string of a JSON-shaped value, however deeply nested."""
    pending = [value]  # a stack, not recursion: a document may nest as deep as JSON allows
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found = unstorable(item)
            if found is not None:
                return found
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None
