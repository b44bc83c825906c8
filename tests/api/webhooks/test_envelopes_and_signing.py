"""The Ack and fault envelopes, HMAC signatures with their replay window, and bounded bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, fromstring

import anyio
import pytest
from starlette.requests import Request

from api.webhooks import (
    BodyTooLargeError,
    SignatureError,
    ack_envelope,
    fault_envelope,
    read_limited_body,
    signature,
    verify_signature,
)

SECRET = "whsec-test-0123456789"
NOW = 1_767_225_600.0


def _shape(element: Element) -> tuple[Any, ...]:
    return (
        element.tag,
        (element.text or "").strip(),
        tuple(_shape(child) for child in element),
    )


def test_the_ack_is_the_one_salesforce_expects(shared_fixtures: Path) -> None:
    expected = (shared_fixtures / "salesforce" / "outbound_message_ack_response.xml").read_bytes()
    assert _shape(fromstring(ack_envelope())) == _shape(fromstring(expected))


def test_a_fault_follows_the_template_with_the_message_escaped(shared_fixtures: Path) -> None:
    template = (shared_fixtures / "salesforce" / "outbound_message_soap_fault_template.xml").read_text(
        "utf-8-sig"
    )
    message = "bad <input> & more\nsecond line"
    expected = template.replace("{0}", "bad &lt;input&gt; &amp; more second line").encode()

    fault = fault_envelope(message)

    assert _shape(fromstring(fault)) == _shape(fromstring(expected))


def test_a_server_fault_says_server() -> None:
    ns = "{http://schemas.xmlsoap.org/soap/envelope/}"
    fault = fromstring(fault_envelope("store unavailable", server=True))
    assert fault.findtext(f"{ns}Body/{ns}Fault/faultcode") == "soapenv:Server"


def test_a_correctly_signed_body_is_accepted() -> None:
    body = b'{"records": []}'
    header = signature(SECRET, "1767225600", body)

    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, "1767225600", header, body, now=NOW + 299) == 1767225600


@pytest.mark.parametrize(
    ("timestamp", "header", "body", "reason"),
    [
        (None, "sha256=00", b"{}", "required"),
        ("1767225600", None, b"{}", "required"),
        ("1767225600.5", "sha256=00", b"{}", "Unix seconds"),
        ("-1767225600", "sha256=00", b"{}", "Unix seconds"),
        ("1767225299", "", b"{}", "required"),
        ("1767225299", "sha256=00", b"{}", "window"),  # 301 s old
        ("1767225901", "sha256=00", b"{}", "window"),  # 301 s ahead
        ("1767225600", "sha256=" + "0" * 64, b"{}", "does not match"),
        ("1767225600", "sha1=" + "0" * 40, b"{}", "does not match"),
    ],
)
def test_unsigned_stale_or_forged_requests_are_refused(
    timestamp: str | None, header: str | None, body: bytes, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_signature(SECRET, timestamp, header, body, now=NOW)


def test_a_signature_does_not_carry_over_to_another_body_timestamp_or_secret() -> None:
    header = signature(SECRET, "1767225600", b'{"records": [1]}')
    with pytest.raises(SignatureError):
        verify_signature(SECRET, "1767225600", header, b'{"records": [2]}', now=NOW)
    with pytest.raises(SignatureError):
        verify_signature(SECRET, "1767225601", header, b'{"records": [1]}', now=NOW)
    with pytest.raises(SignatureError):
        verify_signature("another-secret", "1767225600", header, b'{"records": [1]}', now=NOW)


def _request(chunks: list[bytes], headers: dict[str, str]) -> tuple[Request, list[int]]:
    """A request whose body arrives in `chunks`; the list counts the chunks handed out."""
    handed: list[int] = [0]
    queue = list(chunks)

    async def receive() -> dict[str, Any]:
        handed[0] += 1
        body = queue.pop(0) if queue else b""
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/x",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive), handed


def _run(coro: Callable[[], Awaitable[bytes]]) -> bytes:
    return anyio.run(coro)


def test_a_body_within_the_limit_is_read_whole() -> None:
    request, _ = _request([b"ab", b"cd", b"ef"], {})
    assert _run(lambda: read_limited_body(request, 6)) == b"abcdef"


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    request, handed = _request([b"x" * 10], {"Content-Length": "10"})
    with pytest.raises(BodyTooLargeError):
        _run(lambda: read_limited_body(request, 9))
    assert handed[0] == 0


def test_an_undeclared_body_is_cut_off_once_it_passes_the_limit() -> None:
    request, handed = _request([b"x" * 4] * 100, {})
    with pytest.raises(BodyTooLargeError):
        _run(lambda: read_limited_body(request, 9))
    assert handed[0] == 3


def test_a_body_longer_than_its_declared_length_is_still_cut_off() -> None:
    request, _ = _request([b"x" * 4] * 5, {"Content-Length": "4"})
    with pytest.raises(BodyTooLargeError):
        _run(lambda: read_limited_body(request, 9))
