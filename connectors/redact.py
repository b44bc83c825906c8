"""Redaction of token- and session-id-looking strings from text that sources send back."""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
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
    # Anything else long and random-looking (refresh tokens are 40 hex; run and request ids, 32, stay).
    (re.compile(r"\b[A-Za-z0-9+/_\-]{40,}={0,2}"), REDACTED),
)


def redact(text: str) -> str:
    """`text` with every token-, key- or session-id-looking part replaced by `[redacted]`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
