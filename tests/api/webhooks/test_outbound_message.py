"""Outbound Message parsing: the real fixtures, hostile XML, org ids and canonical records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.webhooks import (
    MalformedMessageError,
    organization_matches,
    parse_outbound_message,
    salesforce_record,
)

CONTACT_COLUMNS = ["Email", "FirstName", "LastName", "Phone", "MobilePhone", "MailingCountry"]


def _fixture(shared_fixtures: Path, name: str) -> bytes:
    return (shared_fixtures / "salesforce" / name).read_bytes()


def _envelope(notifications: str, org: str = "00D000000000001") -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><SessionId>00D!secret-session</SessionId>"
        f"{notifications}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _notification(nid: str, contact_id: str, fields: str = "") -> str:
    return (
        f"<Notification><Id>{nid}</Id>"
        '<sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{contact_id}</sf:Id>{fields}</sObject></Notification>"
    )


def test_the_contact_fixture_gives_its_org_and_both_notifications(shared_fixtures: Path) -> None:
    message = parse_outbound_message(_fixture(shared_fixtures, "outbound_message_contact_2notifications.xml"))

    assert message.organization_id == "012345678901234"
    assert message.action_id == "04k1I000000bmsHQAQ"
    assert [n.id for n in message.notifications] == ["04l1I000000fztEQAQ", "04l1I000000fzt9QAA"]
    doug = message.notifications[1]
    assert doug.sobject == "Contact"
    assert doug.fields["Id"] == "0031I0000081tb0QAA"
    assert doug.fields["Email"] == "drb24@cornell.edu"


def test_the_session_id_is_never_kept(shared_fixtures: Path) -> None:
    message = parse_outbound_message(_fixture(shared_fixtures, "outbound_message_contact_2notifications.xml"))

    assert "AQsAQOjGFnFJzGPA12yh" not in repr(message)
    assert "SessionId" not in repr(message)


def test_a_message_with_a_byte_order_mark_and_an_18_character_org_id_parses(shared_fixtures: Path) -> None:
    message = parse_outbound_message(_fixture(shared_fixtures, "outbound_message_lead_3notifications.xml"))

    assert message.organization_id == "0123456789ABCDENNN"
    assert [n.sobject for n in message.notifications] == ["Lead1", "Lead2", "Lead3"]
    assert message.notifications[0].fields["SystemModstamp"] == "2015-08-14T18:27:02.000Z"


def test_a_message_without_an_organization_id_is_malformed(shared_fixtures: Path) -> None:
    with pytest.raises(MalformedMessageError, match="OrganizationId"):
        parse_outbound_message(_fixture(shared_fixtures, "outbound_message_empty.xml"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "well-formed"),
        (b"not xml at all", "well-formed"),
        (b'{"records": []}', "well-formed"),
        (b"<Envelope/>", "SOAP 1.1 envelope"),
        (
            b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<soapenv:Body/></soapenv:Envelope>",
            "notifications",
        ),
        (_envelope("", org="not-an-org-id"), "OrganizationId"),
        (_envelope("<Notification><Id>04l1</Id></Notification>"), "sObject"),
    ],
)
def test_what_is_not_an_outbound_message_is_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessageError, match=reason):
        parse_outbound_message(body)


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<lolz>&lol2;</lolz>"
    )
    with pytest.raises(MalformedMessageError, match="DTD"):
        parse_outbound_message(bomb)


def test_external_entities_are_refused() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">&x;</soapenv:Envelope>'
    )
    with pytest.raises(MalformedMessageError, match="DTD"):
        parse_outbound_message(xxe)


def test_more_than_a_hundred_notifications_is_malformed() -> None:
    body = _envelope("".join(_notification(f"04l{i:012d}", f"003{i:012d}") for i in range(101)))
    with pytest.raises(MalformedMessageError, match="100"):
        parse_outbound_message(body)


def test_a_notification_repeated_in_one_message_counts_once() -> None:
    body = _envelope(_notification("04lA", "003A") + _notification("04lA", "003A"))
    assert len(parse_outbound_message(body).notifications) == 1


def test_a_nil_field_is_none() -> None:
    body = _envelope(_notification("04lA", "003A", '<sf:Email xsi:nil="true"/>'))
    assert parse_outbound_message(body).notifications[0].fields["Email"] is None


@pytest.mark.parametrize(
    ("given", "expected", "match"),
    [
        ("00D1I000003qqqE", "00D1I000003qqqE", True),
        ("00D1I000003qqqEUAQ", "00D1I000003qqqE", True),
        ("00D1I000003qqqE", "00D1I000003qqqEUAQ", True),
        ("0123456789ABCDENNN", "0123456789ABCDE", True),
        ("00D1I000003qqqe", "00D1I000003qqqE", False),  # ids are case-sensitive
        ("00D1I000003qqqF", "00D1I000003qqqE", False),
        ("00D1I000003qqqE", "", False),
        ("00D1I000003qq", "00D1I000003qq", False),
    ],
)
def test_org_ids_match_in_their_15_and_18_character_forms(given: str, expected: str, match: bool) -> None:
    assert organization_matches(given, expected) is match


def test_a_record_keeps_the_columns_a_sync_selects_made_canonical() -> None:
    fields = (
        "<sf:Email>Ann@Example.com</sf:Email><sf:FirstName>Ann</sf:FirstName>"
        "<sf:Title>Chief</sf:Title><sf:CreatedDate>2017-12-11T21:49:24.000Z</sf:CreatedDate>"
        "<sf:Tier__c>Gold</sf:Tier__c><sf:IsDeleted>false</sf:IsDeleted>"
        "<sf:SystemModstamp>2024-03-01T10:00:00.000Z</sf:SystemModstamp>"
    )
    notification = parse_outbound_message(_envelope(_notification("04lA", "003A", fields))).notifications[0]

    record = salesforce_record(notification, CONTACT_COLUMNS)

    assert record.source_id == "003A"
    assert record.modstamp == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert record.deleted is False
    assert record.fields == {
        "Id": "003A",
        "Email": "Ann@Example.com",
        "FirstName": "Ann",
        "Tier__c": "Gold",
        "IsDeleted": False,
        "SystemModstamp": "2024-03-01T10:00:00+00:00",
    }


def test_a_record_without_a_stamp_has_none() -> None:
    notification = parse_outbound_message(_envelope(_notification("04lA", "003A"))).notifications[0]
    assert salesforce_record(notification, CONTACT_COLUMNS).modstamp is None


def test_a_deleted_record_carries_only_its_id() -> None:
    fields = "<sf:IsDeleted>true</sf:IsDeleted><sf:Email>a@example.com</sf:Email>"
    notification = parse_outbound_message(_envelope(_notification("04lA", "003A", fields))).notifications[0]

    record = salesforce_record(notification, CONTACT_COLUMNS)

    assert record.deleted is True
    assert record.fields == {}
