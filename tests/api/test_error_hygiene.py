"""Errors a person or an attacker causes: a clear answer, never SQL, driver text or a traceback."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from models import Customer, CustomerBase
from tests.api.builders import make_customer, make_order, table
from tests.api.conftest import Api, CapturedLogs

# What a developer's error looks like; none of it may reach a response or a log line.
LEAKS = ("Traceback", "SELECT", "INSERT", "sqlalchemy", "psycopg2", "[SQL:", "OverflowError", "NUL (0x00)")

REGISTER = """
mutation ($e: String!, $f: String!, $l: String!, $city: String, $street: String, $zip: String,
          $phone: String, $p: String!) {
  register(email: $e, password1: $p, password2: $p, firstname: $f, lastname: $l, userType: "CONSUMER",
           city: $city, street: $street, zipCode: $zip, phoneNumber: $phone) {
    success errors token
  }
}"""
SIGN_UP: dict[str, Any] = {"e": "ann.lee@example.com", "f": "Ann", "l": "Lee", "p": "Quite-Long-Passw0rd"}


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        for leak in LEAKS:
            assert leak not in text, (leak, text[:2000])


def max_length(column: str) -> int:
    """The limit the model declares for a customer column."""
    limits = [m.max_length for m in CustomerBase.model_fields[column].metadata if hasattr(m, "max_length")]
    assert limits, column
    return int(limits[0])


def customer_count(api: Api) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table(Customer))).scalar_one())


@pytest.mark.parametrize(
    ("argument", "variable", "column"),
    [
        ("firstname", "f", "firstname"),
        ("lastname", "l", "lastname"),
        ("city", "city", "city"),
        ("street", "street", "street"),
        ("zipCode", "zip", "zip_code"),
        ("email", "e", "email"),
    ],
)
def test_an_over_long_sign_up_field_is_a_max_length_field_error(
    api: Api, logs: CapturedLogs, argument: str, variable: str, column: str
) -> None:
    limit = max_length(column)
    value = "x" * (limit + 1) if column != "email" else "x" * (limit - 11) + "@example.com"
    response = api.post(REGISTER, {**SIGN_UP, variable: value})

    assert response.status_code == 200
    register = response.json()["data"]["register"]
    assert register["success"] is False
    assert register["token"] is None
    assert register["errors"][argument][0]["code"] in (
        {"max_length"} if column != "email" else {"max_length", "invalid"}
    )
    assert_no_leak(response.text, logs.text())
    assert value not in logs.text()
    assert customer_count(api) == 0


def test_a_sign_up_at_exactly_the_limits_is_stored(api: Api) -> None:
    variables = {
        **SIGN_UP,
        "f": "f" * max_length("firstname"),
        "l": "l" * max_length("lastname"),
        "city": "c" * max_length("city"),
        "street": "s" * max_length("street"),
        "zip": "z" * max_length("zip_code"),
    }
    assert api.data(REGISTER, variables)["register"]["success"] is True
    assert customer_count(api) == 1


@pytest.mark.parametrize(
    "argument",
    ['completedAt_Gte: "0001-01-01T00:00:00+14:00"', 'completedAt_Lte: "9999-12-31T23:59:59-14:00"'],
)
def test_an_out_of_range_date_time_is_bad_user_input(api: Api, logs: CapturedLogs, argument: str) -> None:
    staff = api.staff_token()
    response = api.post(f"query {{ orders({argument}) {{ count }} }}", token=staff)

    assert response.status_code in (200, 400)
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert_no_leak(response.text, logs.text())


def test_an_out_of_range_date_time_in_a_variable_is_bad_user_input(api: Api, logs: CapturedLogs) -> None:
    staff = api.staff_token()
    response = api.post(
        "query ($t: DateTime) { orders(completedAt_Gte: $t) { count } }",
        {"t": "0001-01-01T00:00:00+14:00"},
        token=staff,
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert_no_leak(response.text, logs.text())


def test_an_edge_date_time_that_fits_still_filters(api: Api) -> None:
    from datetime import UTC, datetime

    me = make_customer(api.engine)
    make_order(api.engine, me, datetime(2024, 1, 1, tzinfo=UTC))
    staff = api.staff_token()
    query = 'query { orders(completedAt_Gte: "0001-01-02T00:00:00Z", completedAt_Lte: "9999-12-30T00:00:00Z") { count } }'
    assert api.data(query, token=staff)["orders"]["count"] == 1


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"query": "\xff\xfe query { consumers { count } }"}', "invalid UTF-8"),
        (b"42", "a JSON scalar"),
        (b'"query { consumers { count } }"', "a JSON string"),
        (b"[" * 100_000, "100,000 nested ["),
        (
            b'{"query": "{ consumers { count } }", "variables": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "deep variables",
        ),
        (b"{not json", "not JSON"),
    ],
)
def test_a_malformed_body_answers_400(api: Api, logs: CapturedLogs, body: bytes, why: str) -> None:
    response = api.http.post(api.url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, (why, response.status_code, response.text[:300])
    assert response.json()["errors"][0]["message"]
    assert_no_leak(response.text, logs.text())


def test_a_body_above_the_size_limit_answers_413(api: Api, logs: CapturedLogs) -> None:
    limit = api.settings.api_max_body_bytes
    padding = "x" * limit
    response = api.http.post(
        api.url,
        content=f'{{"query": "{{ consumers {{ count }} }}", "variables": {{"pad": "{padding}"}}}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert_no_leak(response.text, logs.text())


def test_a_streamed_body_without_length_above_the_limit_answers_413(api: Api) -> None:
    limit = api.settings.api_max_body_bytes

    def chunks() -> Any:
        yield b'{"query": "{ consumers { count } }", "pad": "'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b'"}'

    response = api.http.post(api.url, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query ($e: String) { consumers(email_Icontains: $e) { count } }", {"e": "ann\u0000@example.com"}),
        ('query { consumers(loyaltyId: "LD\\u0000X") { count } }', None),
        ("query ($p: String) { consumers(phoneNumber_Icontains: $p) { count } }", {"p": "\u0000"}),
        # A lone surrogate has no UTF-8 form: no driver can send it to the store (in a literal
        # it is a syntax error already).
        ("query ($e: String) { consumers(email_Icontains: $e) { count } }", {"e": "ann\ud800@example.com"}),
        ("query ($l: String) { consumers(loyaltyId: $l) { count } }", {"l": "\udfff"}),
    ],
)
def test_a_nul_byte_in_a_filter_is_bad_user_input(
    api: Api, logs: CapturedLogs, query: str, variables: dict[str, Any] | None
) -> None:
    response = api.post(query, variables, token=api.staff_token())
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert_no_leak(response.text, logs.text())


@pytest.mark.parametrize("city", ["Ber\u0000lin", "Ber\ud800lin"])
def test_a_nul_byte_in_a_sign_up_field_is_bad_user_input_and_stores_nothing(
    api: Api, logs: CapturedLogs, city: str
) -> None:
    response = api.post(REGISTER, {**SIGN_UP, "city": city})
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert_no_leak(response.text, logs.text())
    assert customer_count(api) == 0


def test_an_unexpected_error_answers_internal_server_error_with_a_request_id_only(
    api: Api, logs: CapturedLogs
) -> None:
    # A store missing a column the code reads (a half-applied migration): a bug, not the caller's.
    staff = api.staff_token()
    with api.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE customer RENAME COLUMN city TO city_gone"))
    try:
        response = api.post("query { consumers { edges { node { pk city } } } }", token=staff)
    finally:
        with api.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE customer RENAME COLUMN city_gone TO city"))

    error = response.json()["errors"][0]
    request_id = response.headers["x-request-id"]
    assert error["message"] == f"Internal server error (request id {request_id})"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert_no_leak(response.text)
    # Logged once, with the traceback, under the same request id; never the query document.
    failures = logs.named("graphql.internal_error")
    assert len(failures) == 1
    assert failures[0]["request_id"] == request_id
    assert "exc_info" in failures[0]
    assert "edges { node" not in logs.text()


PASSWORD_IN_DOCUMENT = (
    'mutation { obtainToken(email: "a@example.com", password: "Hunter2-Secret-Pw") { success } tokn }'
)
REFRESH_IN_DOCUMENT = (
    'mutation { refreshToken(refreshToken: "f5ee1e870f8fc78dbe9f12ae700460e9f4df9d55") { succes } }'
)


@pytest.mark.parametrize("document", [PASSWORD_IN_DOCUMENT, REFRESH_IN_DOCUMENT])
def test_a_rejected_document_is_never_logged(api: Api, logs: CapturedLogs, document: str) -> None:
    response = api.post(document, {"secret": "Variable-Secret-Value"})
    assert response.status_code == 400
    text = logs.text()
    for secret in ("Hunter2-Secret-Pw", "f5ee1e870f8fc78dbe9f12ae700460e9f4df9d55", "Variable-Secret-Value"):
        assert secret not in text
    outcome = logs.named("graphql.request")
    assert len(outcome) == 1
    assert outcome[0]["outcome"] == "invalid"


def test_an_anonymous_request_is_one_structured_line_without_traceback(api: Api, logs: CapturedLogs) -> None:
    response = api.post("query Mine { consumers { count } }")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    text = logs.text()
    assert "Traceback" not in text
    outcome = logs.named("graphql.request")
    assert len(outcome) == 1
    assert {k: outcome[0][k] for k in ("operation", "outcome")} == {
        "operation": "Mine",
        "outcome": "unauthenticated",
    }
    assert outcome[0]["request_id"] == response.headers["x-request-id"]


def test_every_request_has_one_json_access_log_line(api: Api, logs: CapturedLogs) -> None:
    import time

    response = api.post("query { consumers { count } }")
    health = api.http.get(f"{api.server.url}/healthz")
    # The line is written once the answer is sent, so it may trail the client's read a little.
    deadline = time.monotonic() + 5
    while len(logs.named("http.access")) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = logs.named("http.access")
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/graphql", response.status_code),
        ("GET", "/healthz", health.status_code),
    ]
    assert lines[0]["request_id"] == response.headers["x-request-id"]
    assert all(isinstance(line["duration_ms"], float) for line in lines)
