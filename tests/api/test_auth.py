"""Tokens and logins: JWT and Bearer headers, expiry, tampering, revocation, rotation, lockout."""

from __future__ import annotations

import time

import jwt
import pytest
from structlog.testing import capture_logs

from api.auth import TokenError, decode_access_token, issue_access_token
from models import utcnow
from tests.api.builders import make_customer, make_login
from tests.api.conftest import Api

ME = "query { consumers { count edges { node { pk email } } } }"
LOGIN = """mutation ($e: String!, $p: String!) {
  obtainToken(email: $e, password: $p) { success errors token refreshToken }
}"""
REFRESH = (
    "mutation ($t: String!) { refreshToken(refreshToken: $t) { success errors token refreshToken payload } }"
)
REVOKE = "mutation ($t: String!) { revokeToken(refreshToken: $t) { success errors revoked } }"
VERIFY = "mutation ($t: String!) { verifyToken(token: $t) { success errors payload } }"
PASSWORD = "a-long-enough-secret"


def _error_messages(payload: dict[str, object]) -> list[str]:
    return [e["message"] for e in payload.get("errors", [])]  # type: ignore[attr-defined,index]


def _login(api: Api, email: str = "me@example.com", password: str = PASSWORD) -> dict[str, object]:
    return api.data(LOGIN, {"e": email, "p": password})["obtainToken"]  # type: ignore[no-any-return]


def _account(api: Api) -> int:
    pk = make_customer(api.engine, email="me@example.com")
    make_login(api.engine, pk, "me@example.com", PASSWORD, api.settings)
    return pk


def test_anonymous_callers_get_an_authentication_error(api: Api) -> None:
    make_customer(api.engine)
    payload = api.gql(ME)
    assert payload["data"] == {"consumers": None}
    assert payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_jwt_and_bearer_schemes_both_authenticate(api: Api) -> None:
    pk = _account(api)
    token = _login(api)["token"]
    for scheme in ("JWT", "Bearer"):
        response = api.post(ME, token=str(token), scheme=scheme)
        assert response.json()["data"]["consumers"]["edges"] == [
            {"node": {"pk": pk, "email": "me@example.com"}}
        ]


def test_login_sets_last_login(api: Api) -> None:
    _account(api)
    token = _login(api)["token"]
    node = api.data("query { consumers { edges { node { lastLogin } } } }", token=str(token))
    assert node["consumers"]["edges"][0]["node"]["lastLogin"] is not None


def test_bad_credentials_give_no_hint_whether_the_email_exists(api: Api) -> None:
    _account(api)
    wrong_password = _login(api, password="not-the-password")
    unknown_email = _login(api, email="nobody@example.com")
    assert (
        wrong_password
        == unknown_email
        == {
            "success": False,
            "errors": {
                "nonFieldErrors": [
                    {"message": "Please, enter valid credentials.", "code": "invalid_credentials"}
                ]
            },
            "token": None,
            "refreshToken": None,
        }
    )


def test_an_expired_token_is_refused(api: Api) -> None:
    pk = _account(api)
    settings = api.settings.model_copy(update={"access_token_ttl_seconds": -60})
    expired = issue_access_token(settings, pk, None, "nofamily", utcnow())
    payload = api.gql(ME, token=expired)
    assert payload["data"] == {"consumers": None}
    assert _error_messages(payload) == ["Signature has expired"]


def test_a_token_that_expires_after_it_was_accepted_is_then_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its signature is checked once; its expiry on every use (`decode_access_token`).
    pk = _account(api)
    token = issue_access_token(api.settings, pk, None, "nofamily", utcnow())
    assert decode_access_token(api.settings, token).customer_pk == pk
    later = time.time() + api.settings.access_token_ttl_seconds
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenError, match="Signature has expired"):
        decode_access_token(api.settings, token)


def test_a_tampered_token_is_refused(api: Api) -> None:
    pk = _account(api)
    token = str(_login(api)["token"])
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(
        {**claims, "sub": str(pk + 1)}, "a-guessed-secret-that-is-long-enough-for-hs256", algorithm="HS256"
    )
    header, payload, signature = token.split(".")
    flipped = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    for bad in (forged, flipped, "not-a-token"):
        answer = api.gql(ME, token=bad)
        assert answer["data"] == {"consumers": None}
        assert _error_messages(answer) == ["Error decoding signature"]


def test_revoking_the_refresh_token_ends_the_session(api: Api) -> None:
    _account(api)
    session = _login(api)
    assert api.data(REVOKE, {"t": session["refreshToken"]})["revokeToken"] == {
        "success": True,
        "errors": None,
        "revoked": 1,
    }

    answer = api.gql(ME, token=str(session["token"]))
    assert answer["data"] == {"consumers": None}
    assert _error_messages(answer) == ["Token has been revoked"]
    refreshed = api.data(REFRESH, {"t": session["refreshToken"]})["refreshToken"]
    assert refreshed["success"] is False
    assert refreshed["errors"]["nonFieldErrors"][0]["code"] == "revoked_token"
    assert api.data(VERIFY, {"t": session["token"]})["verifyToken"]["success"] is False


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_family(api: Api) -> None:
    pk = _account(api)
    first = _login(api)
    second = api.data(REFRESH, {"t": first["refreshToken"]})["refreshToken"]
    assert second["success"] is True
    assert second["refreshToken"] != first["refreshToken"]
    assert f'"sub": "{pk}"' in second["payload"]  # JSONString: a JSON-encoded string

    replay = api.data(REFRESH, {"t": first["refreshToken"]})["refreshToken"]
    assert replay["success"] is False
    # The replay is treated as theft: the legitimate successor is dead too.
    assert api.data(REFRESH, {"t": second["refreshToken"]})["refreshToken"]["success"] is False
    assert api.gql(ME, token=str(second["token"]))["data"] == {"consumers": None}


def test_verify_token_reports_the_payload_of_a_live_token(api: Api) -> None:
    pk = _account(api)
    token = _login(api)["token"]
    result = api.data(VERIFY, {"t": token})["verifyToken"]
    assert result["success"] is True
    assert f'"sub": "{pk}"' in result["payload"]
    assert (
        api.data(VERIFY, {"t": "garbage"})["verifyToken"]["errors"]["nonFieldErrors"][0]["code"]
        == "invalid_token"
    )


def test_twenty_wrong_passwords_lock_the_email_and_the_log_never_holds_the_password(api: Api) -> None:
    _account(api)
    wrong = "Wrong-Password-Guess-42"
    with capture_logs() as logs:
        answers = [_login(api, password=wrong) for _ in range(20)]
    assert all(a["errors"]["nonFieldErrors"][0]["code"] == "invalid_credentials" for a in answers)  # type: ignore[index]

    locked = _login(api)  # even the right password now waits
    assert locked["success"] is False
    assert locked["errors"]["nonFieldErrors"][0]["code"] == "too_many_attempts"  # type: ignore[index]
    events = [entry for entry in logs if entry["event"] == "login.locked"]
    assert len(events) == 1
    assert wrong not in repr(logs)
    assert PASSWORD not in repr(logs)


def test_an_unknown_email_locks_after_as_many_tries_as_a_known_one(api: Api) -> None:
    answers = [_login(api, email="ghost-lock@example.com", password="whatever-123") for _ in range(21)]
    assert answers[19]["errors"]["nonFieldErrors"][0]["code"] == "invalid_credentials"  # type: ignore[index]
    assert answers[20]["errors"]["nonFieldErrors"][0]["code"] == "too_many_attempts"  # type: ignore[index]
