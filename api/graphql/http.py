"""POST /graphql with a JSON body, answered straight from the schema (the rest goes to strawberry's router)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from api.graphql.context import RequestContext

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Where the request guard (api.middleware) leaves the JSON body it has read and checked.
JSON_BODY = "json_body"

_POST = frozenset(OperationType.from_http("POST"))


class _RefusedError(Exception):
    """The request cannot be run; answered as strawberry's router answers it (plain text)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _json_content_type(scope: Scope) -> bool:
    """Whether the body is JSON by its `Content-Type`, as strawberry's router decides it."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            # The common spellings without strawberry's `email.message` parser (a twentieth of a
            # small query's CPU); anything else is decided by it.
            mime = value.partition(b";")[0].strip()
            if mime == b"application/json":
                return True
            return "application/json" in parse_content_type(value.decode("latin-1"))[0]
    return False


def _request_data(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
    # The checks, messages and order of strawberry's `AsyncBaseHTTPView.parse_http_body`.
    query = body.get("query")
    if not isinstance(query, str | None):
        raise _RefusedError(400, "The GraphQL operation's `query` must be a string or null, if provided.")
    variables = body.get("variables")
    if not isinstance(variables, dict | None):
        raise _RefusedError(
            400, "The GraphQL operation's `variables` must be an object or null, if provided."
        )
    extensions = body.get("extensions")
    if not isinstance(extensions, dict | None):
        raise _RefusedError(
            400, "The GraphQL operation's `extensions` must be an object or null, if provided."
        )
    return query, variables, extensions


class GraphQLOverHttp:
    """Runs `POST path` requests whose body is JSON on `schema` itself, answering as strawberry's
    FastAPI router does (the same JSON, statuses and plain-text refusals); every other request
    (GraphiQL on GET, queries by GET, other content types) goes on to `app`.

    Why: under load the router's dependency injection, request adapter and response classes
    cost about a quarter of a small query's CPU, and the API's latency at ten clients is that
    CPU times the queue.
    """

    def __init__(
        self,
        app: ASGIApp,
        schema: strawberry.Schema,
        context: Callable[[], RequestContext],
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.schema = schema
        self.context = context
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = scope.get("state", {}).get(JSON_BODY) if scope["type"] == "http" else None
        if (
            not isinstance(body, dict)
            or scope["method"] != "POST"
            or scope["path"] != self.path
            or not _json_content_type(scope)
        ):
            await self.app(scope, receive, send)
            return
        response = Response()
        try:
            payload = await self._run(scope, receive, body, response)
        except _RefusedError as refused:
            await _send(send, refused.status, refused.reason.encode(), b"text/plain; charset=utf-8", [])
            return
        extra = [(k, v) for k, v in response.raw_headers if k not in (b"content-length", b"content-type")]
        await _send(send, response.status_code, payload, b"application/json", extra)

    async def _run(self, scope: Scope, receive: Receive, body: dict[str, Any], response: Response) -> bytes:
        query, variables, extensions = _request_data(body)
        context = self.context()
        context.request = Request(scope, receive)
        # The schema's extensions set a status here (400 for a document that does not parse).
        context.response = response
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=body.get("operationName"),
                allowed_operation_types=_POST,
                operation_extensions=extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise _RefusedError(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise _RefusedError(400, exc.as_http_error_reason("POST")) from exc
        except MissingQueryError as exc:
            raise _RefusedError(400, "No GraphQL query found in the request") from exc
        # strawberry's own encoding (`BaseView.encode_json`), so the bytes are the router's.
        return json.dumps(process_result(result), separators=(",", ":")).encode()


async def _send(
    send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", content_type), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
