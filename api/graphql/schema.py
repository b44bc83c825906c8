"""The schema: queries, mutations, custom scalars, and the limits every request is held to."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import strawberry
import structlog
from graphql import DocumentNode, GraphQLError, StringValueNode, parse, visit
from graphql.language import Visitor
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.graphql.errors import bad_input, outcome_of, present_errors
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.scalars import SCALARS
from models.text import unstorable, unstorable_in
from sync.settings import Settings


class InvalidRequestIs400(SchemaExtension):
    """A document that does not parse or validate answers HTTP 400, not 200 with errors."""

    def _flag_if_rejected(self) -> None:
        if self.execution_context.pre_execution_errors:
            response = getattr(self.execution_context.context, "response", None)
            if response is not None:
                response.status_code = 400

    def on_parse(self) -> Iterator[None]:
        yield
        self._flag_if_rejected()

    def on_validate(self) -> Iterator[None]:
        yield
        self._flag_if_rejected()


log = structlog.get_logger("api.graphql")


class _FindsUnstorable(Visitor):
    found: str | None = None

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        self.found = self.found or unstorable(node.value)


@lru_cache(maxsize=256)
def _parse(query: str, **options: Any) -> DocumentNode:
    return parse(query, **options)


class CachedParse(SchemaExtension):
    """Parses each distinct document once (clients send the same few queries over and over).

    Only documents that parse are cached; one that does not is left to strawberry's own parse,
    which raises its syntax error where `InvalidRequestIs400` turns it into a 400.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            # A rejected document is parsed again below, the way that reports it.
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parse(context.query, **context.parse_options)
        yield


class RefuseNulCharacters(SchemaExtension):
    """A NUL or a lone surrogate in any string, literal or variable, is refused before
    validation or the store (`models.text`).

    The store cannot hold either; without this check the driver's own complaint would be the
    answer.
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        finder = _FindsUnstorable()
        query = context.query or ""
        # A NUL reaches a string literal only as itself or through a `\u` escape: a document
        # with neither has none, and is not walked (most requests; the walk is per request).
        # graphql-core refuses a surrogate in a literal as a syntax error already.
        if context.graphql_document is not None and ("\x00" in query or "\\u" in query):
            visit(context.graphql_document, finder)
        found = finder.found or unstorable_in(context.variables)
        if found is not None:
            # Set before validation runs: strawberry then skips it and answers this error.
            context.pre_execution_errors = [bad_input(f"Text may not contain {found}.")]
        yield


def _request_id(context: ExecutionContext) -> str | None:
    request = getattr(context.context, "request", None)
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    return state.get("request_id") if isinstance(state, dict) else None


class LogOneLinePerOperation(SchemaExtension):
    """One structured line per operation: its name and outcome, never its document or variables."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        result = context.result
        errors = (result.errors if result is not None else None) or context.pre_execution_errors
        response = getattr(context.context, "response", None)
        rejected = getattr(response, "status_code", None) == 400
        try:
            operation = context.operation_name
        except (GraphQLError, RuntimeError):
            operation = None
        log.info(
            "graphql.request",
            request_id=_request_id(context),
            operation=operation,
            outcome=outcome_of(errors, rejected),
            codes=sorted({str((e.extensions or {}).get("code", "")) for e in errors or []} - {""}),
        )


class LoyaltySchema(strawberry.Schema):
    """The schema, presenting every error itself instead of strawberry's traceback logger."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        present_errors(errors, _request_id(execution_context) if execution_context else None)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The API schema with depth, alias and size limits from `settings`."""
    settings = settings or Settings()
    # The limits' validation rules are built once, not per request: the validation cache is
    # keyed by the rules too, so the same query text is validated once (validation was half
    # of a small request's CPU). Parsing stays per request: a cached parse raises its syntax
    # error where InvalidRequestIs400 cannot see it.
    limits = [
        *QueryDepthLimiter(max_depth=settings.api_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.api_max_aliases).validation_rules,
    ]
    if not settings.introspection_enabled:
        limits.extend(DisableIntrospection().validation_rules)
    return LoyaltySchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            LogOneLinePerOperation,
            InvalidRequestIs400,
            # Factories, so every request gets fresh extension state (the caches are shared).
            lambda: MaxTokensLimiter(max_token_count=settings.api_max_tokens),
            # After the token limit, which sets the parse options the cache is keyed by.
            CachedParse,
            lambda: AddValidationRules(limits),
            lambda: ValidationCache(maxsize=256),
            # After the cache, which sets the validation result whatever it finds: this one
            # then replaces it when a string holds a NUL.
            RefuseNulCharacters,
        ],
    )


def export_schema() -> str:
    """The schema in SDL, as committed in `graphql_client/schema.graphql`."""
    return build_schema().as_str() + "\n"
