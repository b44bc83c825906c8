"""Text from the store or a source, printed safely: control characters shown escaped, markup inert."""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["json_safe", "shown", "visible"]

# What a terminal may obey instead of showing: C0 (tab and newline too, so a value stays one
# cell of a table or a TSV line), DEL, C1 (0x9b is a one-byte CSI to some terminals), the bidi
# embeddings, overrides and isolates that reorder everything after them on screen, the line
# and paragraph separators, and lone surrogates (which stdout cannot even encode). The bidi
# marks (U+200E, U+200F) stay: people type them in right-to-left names, and they move nothing.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _python_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible(text: str) -> str:
    """`text` with each control character written as its escape (ESC as `\\x1b`), for plain output."""
    return _CONTROLS.sub(_python_escape, text)


def shown(value: object) -> Text:
    """`value` for rich to print as it is: controls escaped, `[bold]` and `:smile:` not interpreted."""
    return Text(visible(str(value)))


def json_safe(encoded: str) -> str:
    """JSON text with the controls `json.dumps` leaves raw (DEL, C1, bidi) as `\\u` escapes.

    Outside strings JSON is ASCII, so each one is inside a string, where the escape means the
    same character: the document decodes to the same data.
    """
    return _CONTROLS.sub(_json_escape, encoded)
