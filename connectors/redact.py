"""Redaction of token- and session-id-looking strings from text that sources send back."""

from __future__ import annotations

import re
from collections.abc import Callable

REDACTED = "[redacted]"

# A directory or file name as people and installers write them: a word, maybe capitalised,
# maybe with digits, `-` or `_` (`site-packages`, `Users`, `python3`, `2026-11-30`), shorter
# than a token. A random base64 token cut at its `/`s is not: its parts mix cases, or hold `+`.
_PATH_PART = re.compile(r"[A-Z]?[a-z0-9_\-]{0,38}")


def _unless_a_path(match: re.Match[str]) -> str:
    """Redact a long run of token characters, unless it is a path: words between slashes.

    `/` is a base64 character, so `/home/ops/customer-sync/venv/lib/python3` (the part of a
    traceback's `python3.11/…` path before the dot) is one long run; its parts are words.
    """
    run = match.group(0)
    if "/" in run and all(_PATH_PART.fullmatch(part) for part in run.split("/")):
        return run
    return REDACTED


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # A Salesforce session id: the 15/18-character org id, "!", then the secret part.
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+"), REDACTED),
    # A JWT (header.payload.signature, base64url).
    (re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*)?"), REDACTED),
    # The credential after an auth scheme: "Bearer …", "OAuth …", "JWT …", "Basic …".
    (re.compile(r"(?i)\b(bearer|oauth|jwt|basic)(\s+)[A-Za-z0-9._~+/!=\-]{8,}"), rf"\1\2{REDACTED}"),
    # key=value / "key": "value" pairs whose key names a secret.
    (
        re.compile(
            r"""(?ix)
            (["']?\b(?:access_token|refresh_token|id_token|session_?id|sid|token|password|passwd|
                       client_secret|secret|assertion|api_?key|authorization)\b["']?
             \s*[:=]\s*["']?)
            ([^"'&\s,;}]+)
            """
        ),
        rf"\1{REDACTED}",
    ),
    # Anything else long and random-looking (refresh tokens are 40 hex; run and request ids, 32,
    # stay), file paths excepted. The run starts wherever token characters start, not at a word
    # boundary: a base64 token may begin with `/` or `+`, which `\b` would leave in front.
    (re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{40,}={0,2}"), _unless_a_path),
)


# Text that no pattern above can match: under 40 characters (the shortest run the last one
# takes) and none of `!`, `.`, `:`, `=` or white space, one of which each of the others needs.
# Most values a log line carries (a method, a path, an outcome, an operation name) are such text,
# and one check is cheaper than five substitutions.
_PLAIN = re.compile(r"[A-Za-z0-9_/\-]{0,39}")


def redact(text: str) -> str:
    """`text` with every token-, key- or session-id-looking part replaced by `[redacted]`."""
    if _PLAIN.fullmatch(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
