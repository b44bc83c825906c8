"""Signed JSON webhooks: HMAC-SHA256 over "<timestamp>.<raw body>", with a replay window."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_SCHEME = "sha256="
DEFAULT_REPLAY_WINDOW_SECONDS = 300


class SignatureError(Exception):
    """The request is not signed, not signed by us, or signed too long ago (one clear line)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Signature` header value for `body` sent at `timestamp` (Unix seconds, as text)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_SCHEME + digest


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    window_seconds: int = DEFAULT_REPLAY_WINDOW_SECONDS,
) -> int:
    """Check a request's `X-Timestamp` and `X-Signature`; return the timestamp, or raise SignatureError."""
    if not timestamp or not signature_header:
        raise SignatureError("X-Timestamp and X-Signature headers are required")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("X-Timestamp must be Unix seconds")
    sent = int(timestamp)
    # Both directions: a timestamp far in the future would stay replayable for longer.
    if abs((time.time() if now is None else now) - sent) > window_seconds:
        raise SignatureError(f"X-Timestamp is outside the {window_seconds}-second window")
    expected = signature(secret, timestamp, body)
    # compare_digest only promises constant time for ASCII text, so compare bytes.
    if not hmac.compare_digest(expected.encode(), signature_header.strip().encode("utf-8", "replace")):
        raise SignatureError("X-Signature does not match the body")
    return sent
