"""ASGI middleware: a request id and one access-log line per request, and bounded, well-formed bodies."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

log = structlog.get_logger("api.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A client's own id is kept only when it cannot smuggle anything into a log line.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


async def _answer(send: Send, status: int, message: str, request_id: str) -> None:
    body = json.dumps({"data": None, "errors": [{"message": message}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyRejectedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _check_json(body: bytes) -> dict[str, Any]:
    """A GraphQL POST body is a UTF-8 JSON object; anything else is the client's mistake."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _BodyRejectedError(400, "The request body is not valid UTF-8.") from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise _BodyRejectedError(400, "The request body is nested too deeply.") from None
    except ValueError:
        raise _BodyRejectedError(400, "The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise _BodyRejectedError(400, "The request body must be a JSON object with a `query`.")
    return document


class RequestGuard:
    """Gives every request an id (echoed as `X-Request-ID`), logs it once, and vets JSON bodies.

    Bodies are read here, at most `max_body_bytes` of them (413 beyond, whatever the
    `Content-Length` claims), and checked before any GraphQL code sees them: invalid UTF-8,
    non-objects and pathological nesting answer 400 rather than surfacing as a server error.
    A JSON body's object is left in `scope["state"]["json_body"]` (`api.graphql.http`).
    """

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, json_paths: tuple[str, ...] = ("/graphql",)
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_paths = json_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                if scope["method"] == "POST" and scope["path"] in self.json_paths:
                    try:
                        body = await self._read_body(receive, headers)
                        if "json" in headers.get("content-type", "json"):
                            # Parsed once: the GraphQL endpoint takes it from here.
                            scope["state"]["json_body"] = _check_json(body)
                    except _BodyRejectedError as rejected:
                        await _answer(send_with_id, rejected.status, rejected.message, request_id)
                        status = rejected.status
                        return
                    await self.app(scope, _replay(body, receive), send_with_id)
                else:
                    await self.app(scope, receive, send_with_id)
            finally:
                log.info(
                    "http.access",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    request_id=request_id,
                )

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _BodyRejectedError(413, f"The request body is larger than {self.max_body_bytes} bytes.")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyRejectedError(413, f"The request body is larger than {self.max_body_bytes} bytes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body on once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
