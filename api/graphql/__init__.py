"""The GraphQL schema and its resolvers: the documented operations, Relay paging, loaders, scalars."""

from __future__ import annotations

from api.graphql.context import RequestContext, Services
from api.graphql.relay import PageArgs, offset_to_cursor, to_global_id
from api.graphql.schema import build_schema, export_schema

__all__ = [
    "PageArgs",
    "RequestContext",
    "Services",
    "build_schema",
    "export_schema",
    "offset_to_cursor",
    "to_global_id",
]
