"""Salesforce Outbound Messages (SOAP 1.1): parsed with entities, DTDs and network off."""

from __future__ import annotations

import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from connectors.salesforce import canonical, parse_stamp

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
# Salesforce sends at most 100 notifications in one message.
MAX_NOTIFICATIONS = 100

_ORG_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
# The connector's system columns and their Salesforce types; the rest of a Contact's fields
# the webhook keeps are text, as the connector's mapping reads them.
_SYSTEM_TYPES = {"Id": "id", "IsDeleted": "boolean", "SystemModstamp": "datetime"}


class MalformedMessageError(Exception):
    """The body is not an Outbound Message we can read (one clear line, no echo of the body)."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification: its own id (the redelivery key), the sObject type and its field texts."""

    id: str
    sobject: str
    fields: dict[str, str | None]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """The parts of a message we use. The SessionId is never read: it is a live session."""

    organization_id: str
    action_id: str | None
    notifications: tuple[Notification, ...]


@dataclass(frozen=True, slots=True)
class SalesforceRecord:
    """A notification's sObject as the connector would have read it: canonical values, its stamp."""

    source_id: str
    modstamp: datetime | None
    deleted: bool
    fields: dict[str, Any]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(parent: Element, namespace: str, name: str) -> Element | None:
    return parent.find(f"{{{namespace}}}{name}")


def _text(parent: Element, namespace: str, name: str) -> str | None:
    found = _child(parent, namespace, name)
    text = (found.text or "").strip() if found is not None else ""
    return text or None


def _notification(element: Element) -> Notification:
    nid = _text(element, OUTBOUND, "Id")
    sobject = _child(element, OUTBOUND, "sObject")
    if not nid or sobject is None:
        raise MalformedMessageError("a Notification lacks its Id or its sObject")
    # xsi:type is "sf:Contact"; the prefix is whatever the sender bound, so only its tail counts.
    kind = sobject.get(f"{{{XSI}}}type", "").rsplit(":", 1)[-1]
    fields: dict[str, str | None] = {}
    for field in sobject:
        if len(field):
            continue  # compound values (addresses) are not sent as scalars; nothing to keep
        nil = field.get(f"{{{XSI}}}nil", "").lower() == "true"
        fields[_local(field.tag)] = None if nil else (field.text or "")
    if not fields.get("Id"):
        raise MalformedMessageError(f"notification {nid} carries an sObject without an Id")
    return Notification(nid, kind, fields)


def parse_outbound_message(body: bytes, *, max_notifications: int = MAX_NOTIFICATIONS) -> OutboundMessage:
    """Read an Outbound Message; MalformedMessageError for anything that is not one."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise MalformedMessageError("the body declares a DTD, entities or external references") from None
    except (ParseError, ValueError, UnicodeError):
        raise MalformedMessageError("the body is not well-formed XML") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise MalformedMessageError("the body is not a SOAP 1.1 envelope")
    soap_body = _child(root, SOAP_ENV, "Body")
    notifications = _child(soap_body, OUTBOUND, "notifications") if soap_body is not None else None
    if notifications is None:
        raise MalformedMessageError("the SOAP body holds no Outbound Message notifications element")
    org = _text(notifications, OUTBOUND, "OrganizationId")
    if not org or not _ORG_ID.match(org):
        raise MalformedMessageError("the message has no valid OrganizationId")
    elements = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if len(elements) > max_notifications:
        raise MalformedMessageError(f"the message holds more than {max_notifications} notifications")
    # A notification id repeated in one message is one notification.
    unique = {n.id: n for n in map(_notification, elements)}
    return OutboundMessage(org, _text(notifications, OUTBOUND, "ActionId"), tuple(unique.values()))


def organization_matches(given: str, expected: str) -> bool:
    """Whether two org ids name one org: the 18-character form adds a case checksum to the 15."""
    if not _ORG_ID.match(given) or not _ORG_ID.match(expected.strip()):
        return False
    return hmac.compare_digest(given[:15].encode(), expected.strip()[:15].encode())


def salesforce_record(notification: Notification, columns: Collection[str]) -> SalesforceRecord:
    """The sObject as a connector record: the columns a sync would select, made canonical.

    `columns` are the mapping's candidate columns; custom (`__c`) fields travel along as the
    sync's do, into extraInfo. Keeping to the same columns means an API sync of the same
    state finds the same content and counts it unchanged.
    """
    wanted = {*_SYSTEM_TYPES, *columns}
    fields: dict[str, Any] = {
        name: canonical(value, _SYSTEM_TYPES.get(name, "string"))
        for name, value in notification.fields.items()
        if name in wanted or name.endswith("__c")
    }
    stamp: datetime | None = None
    if fields.get("SystemModstamp"):
        try:
            stamp = parse_stamp(str(notification.fields["SystemModstamp"]))
        except ValueError:
            stamp = None
    deleted = bool(fields.get("IsDeleted"))
    source_id = str(fields["Id"])
    # As the connector does: a deleted record carries only its id.
    return SalesforceRecord(source_id, stamp, deleted, {} if deleted else fields)
