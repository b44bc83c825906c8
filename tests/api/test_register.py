"""Sign-up: password rules, unique e-mails, allowed user types, and claiming a synced customer."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from api.auth import content_hash
from models import Customer, CustomerLogin, CustomerSource
from tests.api.builders import make_customer, make_source_row, table
from tests.api.conftest import Api

REGISTER = """
mutation ($email: String!, $p1: String!, $p2: String!, $type: String!, $phone: String, $country: String,
          $birthday: String, $gender: String, $merchantType: String) {
  register(email: $email, password1: $p1, password2: $p2, firstname: "Jane", lastname: "Roe",
           userType: $type, phoneNumber: $phone, country: $country, birthday: $birthday,
           gender: $gender, merchantType: $merchantType) {
    success errors token refreshToken verificationRequired
  }
}"""
LOGIN = (
    "mutation ($e: String!, $p: String!) { obtainToken(email: $e, password: $p) { success errors token } }"
)
VERIFY_ACCOUNT = "mutation ($t: String!) { verifyAccount(token: $t) { success errors } }"
PASSWORD = "plenty-long-password"


def _register(
    api: Api, email: str = "jane@example.com", p1: str = PASSWORD, p2: str | None = None, **more: Any
) -> dict[str, Any]:
    variables = {"email": email, "p1": p1, "p2": p1 if p2 is None else p2, "type": "CONSUMER", **more}
    return api.data(REGISTER, variables)["register"]  # type: ignore[no-any-return]


def test_register_stores_customer_internal_source_and_login(api: Api) -> None:
    result = _register(
        api,
        email="Jane@Example.com",
        phone="030 1234567",
        country="Germany",
        birthday="1990-02-03",
        gender="f",
    )
    assert result["success"] is True
    assert result["token"]

    with api.engine.connect() as conn:
        customer = conn.execute(sa.select(table(Customer))).one()
        source = conn.execute(sa.select(table(CustomerSource))).one()
        login = conn.execute(sa.select(table(CustomerLogin))).one()
    assert customer.email == "jane@example.com"
    assert customer.phone_number == "+49301234567"
    assert (customer.country, customer.gender, customer.entity_source) == ("DE", "FEMALE", "INTERNAL")
    assert customer.entity_source_id == str(customer.pk)
    assert customer.loyalty_id.startswith("LD")
    assert (source.source, source.source_id, source.entity_source, source.priority) == (
        "internal",
        str(customer.pk),
        "INTERNAL",
        100,
    )
    assert source.payload["birthday"] == "1990-02-03"
    assert source.content_hash == content_hash(source.payload)
    assert login.password_hash.startswith("$argon2")
    assert PASSWORD not in login.password_hash
    assert api.mailer.outbox[0].to == "jane@example.com"


def test_password_mismatch_is_reported_on_password2(api: Api) -> None:
    result = _register(api, p2="something-else-entirely")
    assert result["success"] is False
    assert result["token"] is None
    assert result["errors"] == {
        "password2": [{"message": "The two password fields didn't match.", "code": "password_mismatch"}]
    }


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short1!", "password_too_short"),
        ("password123", "password_too_common"),
        ("8406512973", "password_entirely_numeric"),
        ("jane-example-1", "password_too_similar"),
    ],
)
def test_weak_passwords_get_their_own_codes(api: Api, password: str, code: str) -> None:
    result = _register(
        api,
        email="jane-example-1@example.com" if code == "password_too_similar" else "jane@example.com",
        p1=password,
    )
    assert result["success"] is False
    assert code in {e["code"] for e in result["errors"]["password2"]}


def test_an_email_with_a_login_is_unique(api: Api) -> None:
    assert _register(api)["success"] is True
    again = _register(api, email="JANE@example.com")
    assert again["success"] is False
    assert again["errors"]["email"][0]["code"] == "unique"


@pytest.mark.parametrize("user_type", ["ADMIN", "STAFF", "admin", "ROOT", ""])
def test_only_consumer_and_merchant_may_sign_up(api: Api, user_type: str) -> None:
    result = _register(api, type=user_type)
    assert result["success"] is False
    assert result["errors"]["userType"][0]["code"] == "invalid_choice"
    with api.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table(Customer))).scalar_one() == 0


def test_invalid_profile_fields_are_reported_per_field(api: Api) -> None:
    result = _register(
        api, phone="12", country="Atlantis", birthday="not a date", gender="robot", merchantType="CAFE"
    )
    assert result["success"] is False
    assert set(result["errors"]) == {"phoneNumber", "country", "birthday", "gender", "merchantType"}


def test_claiming_a_synced_customer_requires_mailbox_verification(api: Api) -> None:
    pk = make_customer(api.engine, email="synced@example.com", firstname="Old", city="Paris")
    make_source_row(
        api.engine, pk, "csv", {"email": "synced@example.com", "firstname": "Old", "city": "Paris"}
    )

    result = _register(api, email="synced@example.com")
    assert result == {
        "success": True,
        "errors": None,
        "token": None,
        "refreshToken": None,
        "verificationRequired": True,
    }
    login = api.data(LOGIN, {"e": "synced@example.com", "p": PASSWORD})["obtainToken"]
    assert login["success"] is False
    assert login["token"] is None
    assert login["errors"]["nonFieldErrors"][0]["code"] == "not_verified"
    with api.engine.connect() as conn:
        sources = conn.execute(sa.select(table(CustomerSource).c.source)).scalars().all()
    assert sources == ["csv"]  # nothing of the claimant's is applied yet

    token = api.mailer.outbox[-1].body.strip().splitlines()[-1]
    assert api.data(VERIFY_ACCOUNT, {"t": token})["verifyAccount"] == {"success": True, "errors": None}

    login = api.data(LOGIN, {"e": "synced@example.com", "p": PASSWORD})["obtainToken"]
    assert login["success"] is True
    me = api.data(
        "query { consumers { edges { node { pk firstname city verified } } } }", token=login["token"]
    )
    assert me["consumers"]["edges"] == [
        {"node": {"pk": pk, "firstname": "Jane", "city": "Paris", "verified": True}}
    ]
    with api.engine.connect() as conn:
        source = conn.execute(
            sa.select(table(CustomerSource)).where(table(CustomerSource).c.source == "internal")
        ).one()
    assert (source.customer_pk, source.source_id) == (pk, str(pk))
    again = api.data(VERIFY_ACCOUNT, {"t": token})["verifyAccount"]
    assert again["errors"]["nonFieldErrors"][0]["code"] == "already_verified"


def test_a_later_sign_up_voids_an_unverified_claim(api: Api) -> None:
    make_customer(api.engine, email="synced@example.com")
    _register(api, email="synced@example.com", p1="attacker-password-1")
    attacker_token = api.mailer.outbox[-1].body.strip().splitlines()[-1]
    _register(api, email="synced@example.com")  # the mailbox owner signs up too

    answer = api.data(VERIFY_ACCOUNT, {"t": attacker_token})["verifyAccount"]
    assert answer["success"] is False
    assert answer["errors"]["nonFieldErrors"][0]["code"] == "invalid_token"


def test_tampered_and_expired_verification_tokens_are_refused(api: Api) -> None:
    _register(api)
    token = api.mailer.outbox[-1].body.strip().splitlines()[-1]
    tampered = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
    assert (
        api.data(VERIFY_ACCOUNT, {"t": tampered})["verifyAccount"]["errors"]["nonFieldErrors"][0]["code"]
        == "invalid_token"
    )

    import jwt

    from api.auth.tokens import _secret

    claims = jwt.decode(token, options={"verify_signature": False})
    expired = jwt.encode({**claims, "exp": 1}, _secret(api.settings, "verify"), algorithm="HS256")
    assert (
        api.data(VERIFY_ACCOUNT, {"t": expired})["verifyAccount"]["errors"]["nonFieldErrors"][0]["code"]
        == "expired_token"
    )


def test_a_claims_mail_says_when_it_was_made_and_not_to_confirm_a_stranger_s(api: Api) -> None:
    """Review F11: a later sign-up for a synced address voids the earlier one's link, so the
    newest mail in the owner's box may be a stranger's claim; it says when it was made and
    that a sign-up the reader did not make must not be confirmed, and quotes nothing typed."""
    make_customer(api.engine, email="synced@example.com")
    _register(api, email="synced@example.com", p1="attacker-password-1")
    body = api.mailer.outbox[-1].body
    assert re.search(r"signed up with this address on \d{4}-\d\d-\d\d at \d\d:\d\d UTC", body)
    assert "If it was not you, do not use it" in body and "cannot sign in" in body
    assert "attacker-password-1" not in body
