"""The schema: queries, mutations, custom scalars, and the limits every request is held to."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.scalars import SCALARS
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
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            InvalidRequestIs400,
            # Factories, so every request gets fresh extension state (the caches are shared).
            lambda: MaxTokensLimiter(max_token_count=settings.api_max_tokens),
            lambda: AddValidationRules(limits),
            lambda: ValidationCache(maxsize=256),
        ],
    )


def export_schema() -> str:
    """The schema in SDL, as committed in `graphql_client/schema.graphql`."""
    return build_schema().as_str() + "\n"
