"""Webhooks: Salesforce Outbound Messages and signed JSON deliveries, written to an inbox."""

from __future__ import annotations

from api.webhooks._body import BodyTooLargeError, read_limited_body
from api.webhooks._drains import CeleryDrains, DrainRequester, InProcessDrains
from api.webhooks._json import BadDeliveryError, parse_json_delivery
from api.webhooks._outbound import (
    MAX_NOTIFICATIONS,
    MalformedMessageError,
    Notification,
    OutboundMessage,
    SalesforceRecord,
    organization_matches,
    parse_outbound_message,
    salesforce_record,
)
from api.webhooks._routes import webhook_router
from api.webhooks._signing import SignatureError, signature, verify_signature
from api.webhooks._soap import SOAP_CONTENT_TYPE, ack_envelope, fault_envelope

__all__ = [
    "MAX_NOTIFICATIONS",
    "SOAP_CONTENT_TYPE",
    "BadDeliveryError",
    "BodyTooLargeError",
    "CeleryDrains",
    "DrainRequester",
    "InProcessDrains",
    "MalformedMessageError",
    "Notification",
    "OutboundMessage",
    "SalesforceRecord",
    "SignatureError",
    "ack_envelope",
    "fault_envelope",
    "organization_matches",
    "parse_json_delivery",
    "parse_outbound_message",
    "read_limited_body",
    "salesforce_record",
    "signature",
    "verify_signature",
    "webhook_router",
]
