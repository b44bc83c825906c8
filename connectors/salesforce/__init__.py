"""The Salesforce connector: Contacts and Orders through simple-salesforce, with deletes and Bulk 2.0."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from connectors.salesforce.records import canonical, parse_stamp
from connectors.salesforce.settings import SalesforceSettings

if TYPE_CHECKING:
    from connectors.salesforce.auth import AuthMode, auth_mode
    from connectors.salesforce.bulk import BulkJobRunning
    from connectors.salesforce.client import SalesforceClient, is_transient
    from connectors.salesforce.contacts import ContactsStream
    from connectors.salesforce.orders import OrdersStream
    from connectors.salesforce.streams import BulkPage, Reconciler, SalesforceStream

    STREAMS: dict[str, type[SalesforceStream]]

__all__ = [
    "STREAMS",
    "AuthMode",
    "BulkJobRunning",
    "BulkPage",
    "ContactsStream",
    "OrdersStream",
    "Reconciler",
    "SalesforceClient",
    "SalesforceSettings",
    "SalesforceStream",
    "auth_mode",
    "canonical",
    "is_transient",
    "parse_stamp",
]

# simple-salesforce and requests load on first use: every command reads the settings, few sync.
_LAZY = {
    "AuthMode": "auth",
    "auth_mode": "auth",
    "BulkJobRunning": "bulk",
    "SalesforceClient": "client",
    "is_transient": "client",
    "ContactsStream": "contacts",
    "OrdersStream": "orders",
    "BulkPage": "streams",
    "Reconciler": "streams",
    "SalesforceStream": "streams",
}


def __getattr__(name: str) -> Any:
    if name == "STREAMS":
        value: Any = {"contacts": __getattr__("ContactsStream"), "orders": __getattr__("OrdersStream")}
    elif name in _LAZY:
        value = getattr(importlib.import_module(f"connectors.salesforce.{_LAZY[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
