"""Builders for webhook tests: Outbound Messages in the real wire format, and signed JSON posts."""

from __future__ import annotations

import json
import time
from typing import Any
from xml.sax.saxutils import escape

import httpx

from api.webhooks import signature

ORG_ID = "00D1I000003qqqE"
SECRET = "whsec-test-0123456789abcdef"
OUTBOUND_TOKEN = "om-token-0123456789abcdef"


def notification(nid: str, sobject: str = "Contact", **fields: str | None) -> str:
    """One `<Notification>` whose sObject carries `fields` (None: `xsi:nil`)."""
    values = "".join(
        f'<sf:{k} xsi:nil="true"/>' if v is None else f"<sf:{k}>{escape(v)}</sf:{k}>"
        for k, v in fields.items()
    )
    return (
        f"<Notification><Id>{nid}</Id>"
        f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{values}</sObject></Notification>"
    )


def contact(nid: str, contact_id: str, stamp: str | None = "2026-11-30T10:00:00.000Z", **fields: str) -> str:
    """A Contact notification stamped `stamp` (None: no SystemModstamp at all)."""
    extra: dict[str, str | None] = {"Id": contact_id, **fields}
    if stamp is not None:
        extra["SystemModstamp"] = stamp
    return notification(nid, "Contact", **extra)


def outbound_message(*notifications: str, org: str = ORG_ID) -> bytes:
    """An Outbound Message envelope as Salesforce sends it, SessionId included."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k1I000000bmsHQAQ</ActionId>"
        "<SessionId>00D1I000003qqqE!AQsAQLiveSessionNeverLogged</SessionId>"
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/59.0/00D1I000003qqqE</EnterpriseUrl>"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/59.0/00D1I000003qqqE</PartnerUrl>"
        f"{''.join(notifications)}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def outbound_url(base_url: str, token: str | None = OUTBOUND_TOKEN) -> str:
    """The endpoint URL as configured in Salesforce: it carries the token (None: without it)."""
    return f"{base_url}/webhooks/salesforce" + ("" if token is None else f"?token={token}")


def post_outbound(
    http: httpx.Client, base_url: str, body: bytes, token: str | None = OUTBOUND_TOKEN
) -> httpx.Response:
    return http.post(
        outbound_url(base_url, token),
        content=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )


def signed_headers(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Timestamp": ts,
        "X-Signature": signature(secret, ts, body),
    }


def post_signed(
    http: httpx.Client,
    url: str,
    document: Any,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    body = json.dumps(document).encode()
    return http.post(url, content=body, headers=signed_headers(body, secret, timestamp))
