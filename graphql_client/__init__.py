"""The documented GraphQL operations as files, and a typed client that runs them."""

from __future__ import annotations

from graphql_client.client import Client, GraphQLClientError
from graphql_client.models import (
    Consumer,
    ConsumerAvailablePromotions,
    Consumers,
    ObtainToken,
    PurchaseHistory,
    SignUp,
    TokenPayload,
)
from graphql_client.operations import OPERATIONS, document

__all__ = [
    "OPERATIONS",
    "Client",
    "Consumer",
    "ConsumerAvailablePromotions",
    "Consumers",
    "GraphQLClientError",
    "ObtainToken",
    "PurchaseHistory",
    "SignUp",
    "TokenPayload",
    "document",
]
