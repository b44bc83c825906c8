"""The schema: queries, mutations, custom scalars, and the limits every request is held to."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import strawberry
import structlog
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    StringValueNode,
    parse,
    specified_rules,
    visit,
)
from graphql.language import Visitor
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_first_operation

from api.graphql.errors import bad_input, outcome_of, present_errors
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.scalars import SCALARS
from models.text import unstorable, unstorable_in
from sync.settings import Settings

log = structlog.get_logger("api.graphql")


class _FindsUnstorable(Visitor):
    found: str | None = None

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        self.found = self.found or unstorable(node.value)


def _request_id(context: Any) -> str | None:
    """The request id the guard gave the HTTP request of a GraphQL context (None without one)."""
    request = getattr(context, "request", None)
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    return state.get("request_id") if isinstance(state, dict) else None


class _ValidationCache:
    """Each distinct document text validated once against one schema's rules (at most `size` kept).

    Validation was half of a small request's CPU; a document is parsed from its text alone, so
    its text is the key. Entries are dropped oldest first.
    """

    def __init__(self, rules: tuple[type[ASTValidationRule], ...], size: int = 256) -> None:
        self.rules = rules
        self.size = size
        self._found: dict[str, list[GraphQLError]] = {}

    def __call__(self, schema: GraphQLSchema, query: str, document: DocumentNode) -> list[GraphQLError]:
        errors = self._found.get(query)
        if errors is None:
            errors = validate_document(schema, document, self.rules)
            if len(self._found) >= self.size:
                del self._found[next(iter(self._found))]
            self._found[query] = errors
        return errors


@lru_cache(maxsize=256)
def _parse(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


@dataclass(frozen=True, slots=True)
class _Admission:
    """What the gate found before strawberry runs a document: its parse and its refusal, if any."""

    document: DocumentNode | None  # None: it does not parse (strawberry parses it again to say why)
    errors: list[GraphQLError] | None  # NUL or validation errors; None when not parsed

    @property
    def rejected(self) -> bool:
        return self.document is None or bool(self.errors)


# Hands the request's admission to `_create_execution_context`, which strawberry calls first
# thing in `execute`, in the same task.
_ADMISSION: ContextVar[_Admission | None] = ContextVar("graphql_admission", default=None)


class _NamesOnce(NameConverter):
    """strawberry's naming, each Python name camel-cased once: it names every argument of a
    resolver again on every call (`convert_arguments`), `to_camel_case` each time, ~1 % of a
    small query's instructions. The names are the schema's own, so the dict stays small.
    """

    def __init__(self) -> None:
        super().__init__()
        self._named: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        named = self._named.get(name)
        if named is None:
            named = self._named[name] = super().apply_naming_config(name)
        return named


class LoyaltySchema(strawberry.Schema):
    """The schema, with the limits every request is held to, one log line per operation, and
    every error presented by `present_errors` instead of strawberry's traceback logger.

    Before a document runs, in order: the token limit (`max_tokens`); a cached parse of each
    distinct document (only documents that parse are cached: one that does not is left to
    strawberry's own parse, whose syntax error is then answered); a NUL or lone surrogate in any
    string, literal or variable, is refused before validation or the store (`models.text`: the
    store cannot hold either, and the driver's own complaint would be the answer); validation
    with the depth, alias and introspection rules, cached per document text. A document that
    does not parse or validate answers HTTP 400 (through the context's `response`), not 200 with
    errors. Then one structured line per operation: its name and outcome, never its document or
    variables.

    (Seven strawberry extensions did this before: their hooks' context managers, built for every
    request, cost an eighth of a small query's CPU. strawberry skips its own parse when the
    execution context has a document and its own validation when it has a validation result.)
    """

    def __init__(self, *args: Any, max_tokens: int, validation: _ValidationCache, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_tokens = max_tokens
        self.validation = validation

    def _admit(self, query: str | None, variables: dict[str, Any] | None) -> _Admission:
        document = None
        if query:
            with contextlib.suppress(GraphQLError):
                document = _parse(query, self.max_tokens)
        if query is None or document is None:
            return _Admission(None, None)
        finder = _FindsUnstorable()
        # A NUL reaches a string literal only as itself or through a `\u` escape: a document
        # with neither has none, and is not walked (most requests; the walk is per request).
        # graphql-core refuses a surrogate in a literal as a syntax error already.
        if "\x00" in query or "\\u" in query:
            visit(document, finder)
        found = finder.found or unstorable_in(variables)
        if found is not None:
            return _Admission(document, [bad_input(f"Text may not contain {found}.")])
        # A new list: strawberry and `present_errors` may change it, not the cached one.
        return _Admission(document, list(self.validation(self._schema, query, document)))

    def _create_execution_context(
        self,
        query: str | None,
        allowed_operation_types: Iterable[OperationType],
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionContext:
        context = super()._create_execution_context(
            query,
            allowed_operation_types,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
        )
        context.parse_options["max_tokens"] = self.max_tokens
        admission = _ADMISSION.get()
        if admission is not None:
            context.graphql_document = admission.document
            context.pre_execution_errors = admission.errors
        return context

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        admission = self._admit(query, variable_values)
        token = _ADMISSION.set(admission)
        try:
            result = await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed_operation_types,
                operation_extensions,
            )
        finally:
            _ADMISSION.reset(token)
        response = getattr(context_value, "response", None)
        if admission.rejected and response is not None:
            response.status_code = 400
        log.info(
            "graphql.request",
            request_id=_request_id(context_value),
            operation=_operation_name(admission.document, operation_name),
            outcome=outcome_of(result.errors, admission.rejected),
            codes=sorted({str((e.extensions or {}).get("code", "")) for e in result.errors or []} - {""}),
        )
        return result

    def execute_sync(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Refused: the limits above are applied by `execute` only, and the API runs async."""
        raise NotImplementedError("LoyaltySchema runs operations with `await execute(...)` only")

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        present_errors(errors, _request_id(execution_context.context) if execution_context else None)


def _operation_name(document: DocumentNode | None, given: str | None) -> str | None:
    if given is not None or document is None:
        return given
    first = get_first_operation(document)
    return first.name.value if first is not None and first.name is not None else None


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The API schema with depth, alias and size limits from `settings`."""
    settings = settings or Settings()
    limits = [
        *QueryDepthLimiter(max_depth=settings.api_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.api_max_aliases).validation_rules,
    ]
    if not settings.introspection_enabled:
        limits.extend(DisableIntrospection().validation_rules)
    return LoyaltySchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS, name_converter=_NamesOnce()),
        max_tokens=settings.api_max_tokens,
        validation=_ValidationCache((*specified_rules, *limits)),
    )


def export_schema() -> str:
    """The schema in SDL, as committed in `graphql_client/schema.graphql`."""
    return build_schema().as_str() + "\n"
