"""The Salesforce connector: Contacts and Orders through simple-salesforce, with deletes and Bulk 2.0."""

from __future__ import annotations

from connectors.salesforce.auth import AuthMode, auth_mode
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.streams import ContactsStream, OrdersStream, Reconciler, SalesforceStream

STREAMS: dict[str, type[SalesforceStream]] = {"contacts": ContactsStream, "orders": OrdersStream}

__all__ = [
    "STREAMS",
    "AuthMode",
    "ContactsStream",
    "OrdersStream",
    "Reconciler",
    "SalesforceClient",
    "SalesforceStream",
    "auth_mode",
]
