"""Forged tokens and exposed tooling: signing keys, sessions tied to users, strict ids, introspection."""

from __future__ import annotations

import base64

import httpx
import jwt
import pytest
from graphql import get_introspection_query

from api import InsecureSecretKeyError, create_app
from api.auth import issue_access_token
from models import utcnow
from sync.settings import DEFAULT_SECRET_KEY, Settings
from tests.api.builders import make_customer, make_login, user_id
from tests.api.conftest import Api

ME = "query { consumers { count edges { node { pk email } } } }"
LOGIN = """mutation ($e: String!, $p: String!) { obtainToken(email: $e, password: $p) { success token } }"""


def test_an_admin_token_signed_with_the_default_key_is_refused_by_a_production_server(pg_url: str) -> None:
    # The attacker reads the default from the source and signs an admin token with it; the
    # server never starts with that key, so there is nothing to accept the token.
    settings = Settings(database_url=pg_url, app_env="production", secret_key=DEFAULT_SECRET_KEY)
    with pytest.raises(InsecureSecretKeyError, match=r"secrets\.token_urlsafe"):
        create_app(settings)


@pytest.mark.parametrize("key", [DEFAULT_SECRET_KEY, "short-key", "x" * 31])
def test_a_default_or_short_key_is_refused_unless_in_development(pg_url: str, key: str) -> None:
    with pytest.raises(InsecureSecretKeyError) as refused:
        create_app(Settings(database_url=pg_url, app_env="production", secret_key=key))
    message = str(refused.value)
    assert "\n" not in message
    assert "SECRET_KEY" in message
    assert key not in message  # a log line is no place for even a weak key
    create_app(Settings(database_url=pg_url, app_env="development", secret_key=key))


def test_a_token_for_another_sub_on_a_live_session_is_refused(api: Api) -> None:
    victim = make_customer(api.engine, email="victim@example.com")
    attacker = make_customer(api.engine, email="attacker@example.com")
    make_login(api.engine, attacker, "attacker@example.com", "Attacker-Password-1", api.settings)
    session = api.data(LOGIN, {"e": "attacker@example.com", "p": "Attacker-Password-1"})["obtainToken"]
    family = jwt.decode(session["token"], options={"verify_signature": False})["fam"]

    # Whoever can sign (a leaked key, a test key) must still hold a session of the user it names.
    forged = issue_access_token(api.settings, victim, "victim@example.com", family, utcnow())
    answer = api.gql(ME, token=forged)

    assert answer["data"] == {"consumers": None}
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "victim@example.com" not in str(answer)
    verified = api.data("mutation ($t: String!) { verifyToken(token: $t) { success } }", {"t": forged})
    assert verified["verifyToken"]["success"] is False


def _raw_id(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "decoded",
    [
        "IUserNode: 1 ",
        "IUserNode:\u0661",
        "IUserNode:+1",
        "IUserNode:1_0",
        "IUserNode:0x1",
        "IUserNode:\uff11",
        "IUserNode:99999999999999999999",
    ],
)
def test_only_ascii_digit_global_ids_resolve(api: Api, decoded: str) -> None:
    make_customer(api.engine)
    staff = api.staff_token()
    answer = api.gql("query ($id: ID!) { consumer(id: $id) { pk } }", {"id": _raw_id(decoded)}, token=staff)
    assert answer["data"] == {"consumer": None}
    assert answer["errors"][0]["extensions"]["code"] == "INVALID_ID"


def test_a_padded_global_id_is_refused_but_the_documented_one_works(api: Api) -> None:
    pk = make_customer(api.engine)
    staff = api.staff_token()
    query = "query ($id: ID!) { consumer(id: $id) { pk } }"
    assert api.data(query, {"id": user_id(pk)}, token=staff) == {"consumer": {"pk": pk}}
    padded = api.gql(query, {"id": f" {user_id(pk)} "}, token=staff)
    assert padded["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def _introspect(settings: Settings) -> tuple[httpx.Response, httpx.Response]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://api"
    ) as client:
        schema = await client.post("/graphql", json={"query": get_introspection_query()})
        page = await client.get("/graphql", headers={"Accept": "text/html"})
    return schema, page


LONG_KEY = "k" * 64


def test_production_turns_introspection_and_graphiql_off(pg_url: str) -> None:
    import asyncio

    schema, page = asyncio.run(
        _introspect(Settings(database_url=pg_url, app_env="production", secret_key=LONG_KEY))
    )
    assert schema.status_code == 400
    assert "introspection" in schema.json()["errors"][0]["message"].lower()
    assert "graphiql" not in page.text.lower()


def test_development_has_introspection_and_graphiql_and_settings_override(pg_url: str) -> None:
    import asyncio

    schema, page = asyncio.run(_introspect(Settings(database_url=pg_url, app_env="development")))
    assert schema.status_code == 200
    assert "__schema" in schema.json()["data"]
    assert "graphiql" in page.text.lower()

    schema, page = asyncio.run(
        _introspect(
            Settings(
                database_url=pg_url,
                app_env="production",
                secret_key=LONG_KEY,
                graphql_introspection=True,
                graphiql=True,
            )
        )
    )
    assert schema.status_code == 200
    assert "graphiql" in page.text.lower()
