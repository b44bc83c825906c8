"""GraphQL errors as people see them: a code for what they did, a request id for what we did."""

from __future__ import annotations

import structlog
from graphql import GraphQLError

log = structlog.get_logger("api.graphql")

BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

# The one-word outcome a request's log line carries, by the codes its errors have.
_OUTCOMES = {
    "UNAUTHENTICATED": "unauthenticated",
    "FORBIDDEN": "forbidden",
    INTERNAL_SERVER_ERROR: "error",
}


class BadUserInputError(ValueError):
    """Raised by input parsing (scalars, filters): the message is written for the caller."""


def bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": BAD_USER_INPUT})


def _root_cause(error: GraphQLError) -> BaseException | None:
    """What started it: graphql-core wraps a scalar's or a resolver's exception, sometimes twice."""
    cause: BaseException | None = error.original_error
    while isinstance(cause, GraphQLError) and cause.original_error is not None:
        cause = cause.original_error
    return cause


def present_errors(errors: list[GraphQLError], request_id: str | None) -> None:
    """Give each error its final form, in place: expected ones keep their message and gain a code;
    anything else is a bug, logged once with its traceback and answered with the request id only.
    """
    for error in errors:
        original = _root_cause(error)
        if isinstance(original, BadUserInputError):
            # graphql-core's message already quotes ours: it only lacks the code.
            error.extensions = {**(error.extensions or {}), "code": BAD_USER_INPUT}
            error.original_error = None
        elif original is not None and not isinstance(original, GraphQLError):
            log.error(
                "graphql.internal_error",
                request_id=request_id,
                path=list(error.path or []),
                exc_info=(type(original), original, original.__traceback__) if original else None,
            )
            error.message = f"Internal server error (request id {request_id})"
            error.extensions = {"code": INTERNAL_SERVER_ERROR, "requestId": request_id}
            error.original_error = None


def outcome_of(errors: list[GraphQLError] | None, rejected: bool) -> str:
    """`ok`, `invalid` (did not parse or validate), `bad_input`, `unauthenticated`, `error`, ..."""
    if not errors:
        return "ok"
    codes = {str((e.extensions or {}).get("code", "")) for e in errors}
    for code, outcome in _OUTCOMES.items():
        if code in codes:
            return outcome
    return "invalid" if rejected and codes == {""} else "bad_input"
