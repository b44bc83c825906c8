"""The webhook endpoints on a real server, draining in-process: what is taken, refused and imported."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from api import create_app
from tests.api.webhooks.builders import (
    ORG_ID,
    contact,
    notification,
    outbound_message,
    post_outbound,
    post_signed,
    signed_headers,
)
from tests.api.webhooks.conftest import Hooks, serve_in_thread, webhook_settings

ACK = b"<Ack>true</Ack>"


def test_an_outbound_message_is_acked_and_its_contacts_imported(hooks: Hooks) -> None:
    body = outbound_message(
        contact("04lA00000000001", "0031I0000081tbPQAQ", FirstName="Jeraldine", LastName="Black"),
        contact("04lA00000000002", "0031I0000081tb0QAA", Email="DRB24@cornell.edu", Title="Supreme Being"),
    )

    answer = post_outbound(hooks.http, hooks.url, body)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert ACK in answer.content
    hooks.settle()
    sources = hooks.sources()
    assert set(sources) == {"0031I0000081tbPQAQ", "0031I0000081tb0QAA"}
    doug = sources["0031I0000081tb0QAA"]
    assert doug["payload"]["email"] == "drb24@cornell.edu"
    # Title is not a column the Salesforce sync selects, so it is not kept here either.
    assert "Title" not in doug["payload"]["extra_info"]
    (run,) = hooks.runs()
    assert (run["source"], run["stream"], run["trigger"], run["status"]) == (
        "salesforce",
        "webhook",
        "webhook",
        "succeeded",
    )
    assert (run["read"], run["created"]) == (2, 2)
    assert all(row["run_id"] == run["id"] for row in hooks.inbox())


def test_a_redelivered_notification_is_acked_and_imported_once(hooks: Hooks) -> None:
    body = outbound_message(contact("04lA00000000001", "003A00000000001", Email="ann@example.com"))

    first = post_outbound(hooks.http, hooks.url, body)
    hooks.settle()
    again = post_outbound(hooks.http, hooks.url, body)
    hooks.settle()

    assert first.status_code == again.status_code == 200
    assert ACK in again.content
    assert len(hooks.inbox()) == 1
    assert sum(r["read"] for r in hooks.runs()) == 1


def test_an_older_redelivery_changes_nothing(hooks: Hooks) -> None:
    newer = contact("04lA00000000002", "003A00000000001", "2026-11-30T10:00:05.000Z", LastName="New")
    older = contact("04lA00000000001", "003A00000000001", "2026-11-30T10:00:00.000Z", LastName="Old")

    post_outbound(hooks.http, hooks.url, outbound_message(newer))
    hooks.settle()
    post_outbound(hooks.http, hooks.url, outbound_message(older))
    hooks.settle()

    row = hooks.sources()["003A00000000001"]
    assert row["payload"]["lastname"] == "New"
    assert [r["unchanged"] for r in hooks.runs()] == [0, 1]


def test_within_one_message_the_newest_stamp_wins_whatever_the_order(hooks: Hooks) -> None:
    body = outbound_message(
        contact("04lA00000000002", "003A00000000001", "2026-11-30T10:00:05.000Z", LastName="New"),
        contact("04lA00000000001", "003A00000000001", "2026-11-30T10:00:00.000Z", LastName="Old"),
    )
    post_outbound(hooks.http, hooks.url, body)
    hooks.settle()

    assert hooks.sources()["003A00000000001"]["payload"]["lastname"] == "New"


def test_a_contact_without_a_stamp_is_rejected_with_a_reason(hooks: Hooks) -> None:
    post_outbound(hooks.http, hooks.url, outbound_message(contact("04lA1", "003A1", None, LastName="X")))
    hooks.settle()

    assert hooks.sources() == {}
    (run,) = hooks.runs()
    assert run["rejected"] == 1


def test_a_stamp_past_the_calendar_is_acked_and_its_contact_rejected_not_a_500(hooks: Hooks) -> None:
    # -14:00 puts 9999-12-31T23:59:59 into year 10000 in UTC, which used to raise past the parser.
    answer = post_outbound(
        hooks.http,
        hooks.url,
        outbound_message(
            contact("04lA1", "003A1", "9999-12-31T23:59:59.000-14:00"), contact("04lA2", "003A2")
        ),
    )
    hooks.settle()

    assert answer.status_code == 200 and ACK in answer.content
    assert list(hooks.sources()) == ["003A2"]
    (run,) = hooks.runs()
    assert (run["read"], run["created"], run["rejected"]) == (2, 1, 1)


def test_other_sobjects_are_acked_and_not_imported(hooks: Hooks) -> None:
    body = outbound_message(notification("04lL1", "Lead", Id="00Q000000000001", LastName="Lead"))
    answer = post_outbound(hooks.http, hooks.url, body)
    hooks.settle()

    assert answer.status_code == 200 and ACK in answer.content
    assert hooks.inbox() == [] and hooks.runs() == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (outbound_message(contact("04lA1", "003A1"), org="00D000000000BAD"), 400, b"OrganizationId"),
        (b"<soapenv:Envelope", 400, b"well-formed"),
        (b"<html>hello</html>", 400, b"SOAP"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x>&a;</x>',
            400,
            b"DTD",
        ),
        (outbound_message(contact("04lA1", "003A1", Description="x" * 70_000)), 413, b"larger than"),
    ],
)
def test_a_bad_outbound_message_gets_a_soap_fault_and_imports_nothing(
    hooks: Hooks, body: bytes, status: int, says: bytes
) -> None:
    with capture_logs() as logs:
        answer = post_outbound(hooks.http, hooks.url, body)

    assert answer.status_code == status
    assert b"<faultcode>soapenv:Client</faultcode>" in answer.content
    assert says in answer.content
    assert b"Traceback" not in answer.content
    assert hooks.inbox() == [] and hooks.runs() == []
    assert "AQsAQLiveSessionNeverLogged" not in repr(logs)


def test_the_session_id_is_in_no_log_line_and_no_row(hooks: Hooks) -> None:
    with capture_logs() as logs:
        post_outbound(hooks.http, hooks.url, outbound_message(contact("04lA1", "003A1", LastName="X")))
        hooks.settle()

    assert "AQsAQLiveSessionNeverLogged" not in repr(logs)
    assert "AQsAQLiveSessionNeverLogged" not in repr(hooks.inbox()) + repr(hooks.runs())


def test_the_real_contact_fixture_is_acked(hooks: Hooks, shared_fixtures: Path) -> None:
    body = (shared_fixtures / "salesforce" / "outbound_message_contact_2notifications.xml").read_bytes()
    body = body.replace(b"012345678901234", ORG_ID.encode())

    answer = post_outbound(hooks.http, hooks.url, body)
    hooks.settle()

    assert answer.status_code == 200 and ACK in answer.content
    # It carries no SystemModstamp: taken, and each contact rejected with the reason why.
    assert [r["rejected"] for r in hooks.runs()] == [2]


# --- signed JSON -------------------------------------------------------------------------------


def test_signed_native_records_are_imported(hooks: Hooks) -> None:
    records = [
        {
            "entitySourceId": "c-1",
            "email": "One@Example.com",
            "firstname": "One",
            "updatedAt": "2026-11-30T10:00:00Z",
        },
        {"entitySourceId": "c-2", "email": "two@example.com", "phoneNumber": "+49 30 1234567"},
    ]
    answer = post_signed(hooks.http, f"{hooks.url}/webhooks/shop", {"records": records})
    hooks.settle()

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 2, "duplicate": False}
    rows = hooks.sources("shop")
    assert rows["c-1"]["payload"]["email"] == "one@example.com"
    assert rows["c-2"]["payload"]["phone_number"] == "+49301234567"


def test_a_replayed_signed_request_is_taken_once(hooks: Hooks) -> None:
    document = {"records": [{"entitySourceId": "c-1", "email": "one@example.com"}]}
    stamp = int(time.time())
    first = post_signed(hooks.http, f"{hooks.url}/webhooks/shop", document, timestamp=stamp)
    again = post_signed(hooks.http, f"{hooks.url}/webhooks/shop", document, timestamp=stamp)
    hooks.settle()

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {"accepted": 0, "duplicate": True}
    assert len(hooks.inbox()) == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("bad signature", 401),
        ("wrong secret", 401),
        ("old timestamp", 401),
        ("no headers", 401),
        ("malformed body", 400),
        ("not a record", 400),
        ("oversized body", 413),
        ("unknown source", 404),
        ("ids for a source without a fetch", 400),
        ("NUL in a value", 400),
        ("NUL in a key", 400),
        ("lone surrogate in a value", 400),
        ("lone surrogate in an id", 400),
        ("deeply nested body", 400),
        ("stamp past the calendar", 400),
    ],
)
def test_a_bad_signed_request_gets_a_4xx_and_imports_nothing(hooks: Hooks, case: str, status: int) -> None:
    url = f"{hooks.url}/webhooks/shop"
    good = b'{"records": [{"entitySourceId": "c-1", "email": "one@example.com"}]}'
    headers = signed_headers(good)
    body = good
    if case == "bad signature":
        headers["X-Signature"] = "sha256=" + "0" * 64
    elif case == "wrong secret":
        headers = signed_headers(good, secret="another-secret")
    elif case == "old timestamp":
        headers = signed_headers(good, timestamp=int(time.time()) - 301)
    elif case == "no headers":
        headers = {"Content-Type": "application/json"}
    elif case == "malformed body":
        body = b'{"records": [oops'
        headers = signed_headers(body)
    elif case == "not a record":
        body = b'{"records": [{"name": "x"}]}'
        headers = signed_headers(body)
    elif case == "oversized body":
        body = b'{"records": [{"entitySourceId": "c-1", "note": "' + b"x" * 70_000 + b'"}]}'
        headers = signed_headers(body)
    elif case == "unknown source":
        url = f"{hooks.url}/webhooks/nowhere"
    elif case == "NUL in a value":
        body = b'{"records": [{"entitySourceId": "c-1", "email": "one@example.com", "note": "a\\u0000b"}]}'
        headers = signed_headers(body)
    elif case == "NUL in a key":
        body = b'{"records": [{"entitySourceId": "c-1", "email": "one@example.com", "n\\u0000": "x"}]}'
        headers = signed_headers(body)
    elif case == "lone surrogate in a value":
        body = (
            b'{"records": [{"entitySourceId": "c-1", "email": "one@example.com", "firstname": "a\\ud800"}]}'
        )
        headers = signed_headers(body)
    elif case == "lone surrogate in an id":
        body = b'{"records": [{"entitySourceId": "sur\\ud800", "email": "one@example.com"}]}'
        headers = signed_headers(body)
    elif case == "deeply nested body":
        body = b"[" * 30_000
        headers = signed_headers(body)
    elif case == "stamp past the calendar":
        body = b'{"records": [{"entitySourceId": "c-1", "updatedAt": "9999-12-31T23:59:59-14:00"}]}'
        headers = signed_headers(body)
    elif case == "ids for a source without a fetch":
        body = b'{"records": [{"id": "c-1", "updatedAt": "2026-11-30T10:00:00Z"}]}'
        headers = signed_headers(body)

    answer = hooks.http.post(url, content=body, headers=headers)
    hooks.settle()

    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error"}
    assert "Traceback" not in answer.text
    assert hooks.inbox() == [] and hooks.runs() == []


def test_signed_salesforce_ids_without_salesforce_credentials_answer_503_and_store_nothing(
    hooks: Hooks,
) -> None:
    # Ids carry no field values: only a Salesforce sync could import them, and none can log in.
    assert hooks.settings.salesforce.username is None and hooks.settings.salesforce.access_token is None
    body = b'{"records": [{"id": "003A00000000001", "updatedAt": "2026-11-30T10:00:00Z"}]}'

    answer = hooks.http.post(f"{hooks.url}/webhooks/salesforce", content=body, headers=signed_headers(body))
    hooks.settle()

    assert answer.status_code == 503, answer.text
    (line,) = answer.json().values()
    assert line.startswith("ids cannot be fetched from salesforce: no Salesforce credentials")
    assert hooks.inbox() == [] and hooks.runs() == []


def test_without_a_webhook_secret_signed_webhooks_answer_503(pg_only_url: str) -> None:
    served = serve_in_thread(create_app(webhook_settings(pg_only_url, webhook_secret=None)))
    body = b'{"records": []}'
    try:
        answer = httpx.post(f"{served.url}/webhooks/shop", content=body, headers=signed_headers(body))
    finally:
        served.stop()
    assert answer.status_code == 503
    assert answer.json() == {"error": "webhooks are off: WEBHOOK_SECRET is not configured"}


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("salesforce_organization_id", b"SALESFORCE_ORGANIZATION_ID"),
        ("salesforce_outbound_token", b"SALESFORCE_OUTBOUND_TOKEN"),
    ],
)
def test_without_its_settings_outbound_messages_answer_a_server_fault(
    pg_only_url: str, unset: str, named: bytes
) -> None:
    served = serve_in_thread(create_app(webhook_settings(pg_only_url, **{unset: None})))
    try:
        with httpx.Client() as http:
            answer = post_outbound(http, served.url, outbound_message(contact("04lA1", "003A1")))
    finally:
        served.stop()
    assert answer.status_code == 503
    assert b"soapenv:Server" in answer.content and named in answer.content


@pytest.mark.parametrize("token", [None, "", "om-token-0123456789abcdeX"])
def test_an_outbound_message_without_the_endpoint_token_is_refused_and_imports_nothing(
    hooks: Hooks, token: str | None
) -> None:
    # The org id is printed in every message: knowing it must not let anyone write customers.
    body = outbound_message(contact("04lA1", "003A1", Email="victim@example.com", FirstName="Forged"))
    answer = post_outbound(hooks.http, hooks.url, body, token=token)

    assert answer.status_code == 401
    assert b"soapenv:Client" in answer.content and b"token" in answer.content
    hooks.settle()
    assert hooks.inbox() == [] and hooks.runs() == [] and hooks.sources() == {}
