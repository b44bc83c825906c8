"""Linking Spotify over HTTP: the real app under uvicorn, the fake Spotify, the real store."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api import MemoryMailSender, create_app
from api.graphql import to_global_id
from models import Customer, CustomerSource, OAuthStateUse, SpotifyLink, SyncRun, get_engine
from sync.cli import app as cli
from sync.jobs.spotify_link import _sign, sign_state
from sync.settings import Settings
from tests.api.builders import make_customer, make_source_row, token_for
from tests.api.conftest import Api
from tests.conftest import truncate_all
from tests.fakes.spotify import FakeSpotify

KEY = Fernet.generate_key().decode()
SECRET = "test-secret-key-0123456789abcdef"

CONSUMER = """
query ($id: ID!) { consumer(id: $id) { pk firstname lastname email country picture entitySource entitySourceId } }
"""
UNLINK = "mutation { unlinkSpotify { success errors unlinked } }"


def table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


@dataclass
class Linking:
    url: str
    settings: Settings
    fake: FakeSpotify
    engine: Engine
    http: httpx.Client

    def count(self, model: Any, *where: Any) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(table(model)).where(*where)).scalar_one()
            )

    def connect(self, token: str | None = None, link: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"JWT {token}"} if token else {}
        params = {"link": link} if link else {}
        return self.http.get(f"{self.url}/connect/spotify", headers=headers, params=params)

    def consent(self, authorize: httpx.Response) -> str:
        """Follow the redirect to Spotify; return where Spotify sends the customer back."""
        assert authorize.status_code == 302, authorize.text
        assert authorize.headers["location"].startswith(f"{self.fake.url}/authorize?")
        answer = self.http.get(authorize.headers["location"])
        assert answer.status_code == 302
        location = answer.headers["location"]
        assert location.startswith(f"{self.url}/callback/spotify?")
        return location

    def graphql(self, query: str, token: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.http.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"JWT {token}"},
        )
        assert answer.status_code == 200, answer.text
        payload = answer.json()
        assert "errors" not in payload, payload
        return payload["data"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def linking_server(pg_url: str) -> Iterator[tuple[str, Settings, FakeSpotify]]:
    """The app with Spotify pointed at a fake; its port is known first, for the redirect URI."""
    with FakeSpotify() as fake:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = Settings(
            database_url=pg_url,
            secret_key=SECRET,
            token_encryption_key=KEY,
            spotify=fake.settings(redirect_uri=f"{url}/callback/spotify"),
        )
        app = create_app(settings, MemoryMailSender())
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield url, settings, fake
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def linking(linking_server: tuple[str, Settings, FakeSpotify], pg_url: str) -> Iterator[Linking]:
    url, settings, fake = linking_server
    engine = get_engine(pg_url)
    truncate_all(engine)
    fake.deny_consent = False
    fake.consent_as = fake.add_user()
    with httpx.Client(timeout=30) as http:
        yield Linking(url, settings, fake, engine, http)


def customer_with_login(linking: Linking) -> tuple[int, str]:
    pk = make_customer(linking.engine, firstname="Jane", lastname="Roe", email=None, entity_source="INTERNAL")
    with linking.engine.begin() as conn:  # as a sign-up does: the customer is its own entity id
        conn.execute(
            sa.update(table(Customer)).where(table(Customer).c.pk == pk).values(entity_source_id=str(pk))
        )
    make_source_row(linking.engine, pk, "internal", {"firstname": "Jane", "lastname": "Roe"}, priority=100)
    return pk, token_for(linking.engine, linking.settings, pk)[0]


def nothing_stored(linking: Linking) -> bool:
    return (
        linking.count(SpotifyLink) == 0
        and linking.count(CustomerSource, table(CustomerSource).c.source == "spotify") == 0
        and linking.count(SyncRun) == 0
    )


def test_the_whole_link_flow_over_http(linking: Linking) -> None:
    pk, token = customer_with_login(linking)
    user = linking.fake.consent_as
    assert user is not None
    callback = linking.consent(linking.connect(token))
    page = linking.http.get(callback)
    assert page.status_code == 200 and "Spotify is linked" in page.text

    with linking.engine.connect() as conn:
        link = conn.execute(sa.select(table(SpotifyLink))).mappings().one()
        source = (
            conn.execute(sa.select(table(CustomerSource)).where(table(CustomerSource).c.source == "spotify"))
            .mappings()
            .one()
        )
    assert (link["customer_pk"], link["spotify_account_id"], link["status"]) == (pk, user.key, "linked")
    issued = [*linking.fake._access, *linking.fake._refresh]
    assert not [t for t in issued if t in str(dict(link))]  # stored encrypted
    assert (source["customer_pk"], source["entity_source"], source["source_id"]) == (pk, "SPOTIFY", user.key)

    consumer = linking.graphql(CONSUMER, token, {"id": to_global_id("IUserNode", pk)})["consumer"]
    # The sign-up (priority 100) keeps the name; Spotify (20) fills what nobody else gave.
    assert (consumer["firstname"], consumer["lastname"]) == ("Jane", "Roe")
    assert consumer["picture"] == user.profile["images"][0]["url"]
    assert consumer["country"] == "SE" and consumer["email"] == user.profile["email"]
    # entitySource names the source that created the customer, as documented; linking keeps it.
    assert (consumer["entitySource"], consumer["entitySourceId"]) == ("INTERNAL", str(pk))

    # The same callback again is a replay: refused, nothing more stored.
    replay = linking.http.get(callback)
    assert replay.status_code == 400 and "already used" in replay.text
    assert linking.count(SpotifyLink) == 1 and linking.count(SyncRun) == 1


def test_tampered_and_expired_states_are_refused_with_nothing_stored(linking: Linking) -> None:
    pk, token = customer_with_login(linking)
    callback = linking.consent(linking.connect(token))
    state = httpx.URL(callback).params["state"]
    code = httpx.URL(callback).params["code"]
    tampered = state[:-3] + ("AAA" if not state.endswith("AAA") else "BBB")
    answer = linking.http.get(f"{linking.url}/callback/spotify", params={"state": tampered, "code": code})
    assert answer.status_code == 400 and "not valid" in answer.text and "Traceback" not in answer.text
    expired = _sign(linking.settings, "spotify-state", pk, -5, nonce="0" * 32)
    answer = linking.http.get(f"{linking.url}/callback/spotify", params={"state": expired, "code": code})
    assert answer.status_code == 400 and "expired" in answer.text
    # A state for another purpose (a connect link) does not pass either.
    link = _sign(linking.settings, "spotify-connect-link", pk, 60, nonce="1" * 32)
    assert (
        linking.http.get(f"{linking.url}/callback/spotify", params={"state": link, "code": code}).status_code
        == 400
    )
    assert nothing_stored(linking)


def test_access_denied_is_refused_with_nothing_stored(linking: Linking) -> None:
    _, token = customer_with_login(linking)
    linking.fake.deny_consent = True
    callback = linking.consent(linking.connect(token))
    assert "error=access_denied" in callback
    answer = linking.http.get(callback)
    assert answer.status_code == 400 and "did not allow access" in answer.text
    assert nothing_stored(linking)


def test_connect_needs_a_customer(linking: Linking) -> None:
    answer = linking.connect()
    assert answer.status_code == 401 and "Log in" in answer.text
    assert linking.connect("not-a-token").status_code == 401
    assert linking.connect(link="forged").status_code == 400


def test_a_signed_link_from_the_cli_starts_the_flow(
    linking: Linking, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = make_customer(linking.engine, email="known@example.com")
    monkeypatch.setenv("DATABASE_URL", linking.settings.database_url)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("SPOTIFY_REDIRECT_URI", f"{linking.url}/callback/spotify")
    result = CliRunner().invoke(cli, ["spotify", "link-url", "--email", "KNOWN@example.com"])
    assert result.exit_code == 0, result.output
    url = result.output.strip().replace("\n", "")
    assert url.startswith(f"{linking.url}/connect/spotify?link=")
    callback = linking.consent(linking.http.get(url))
    assert linking.http.get(callback).status_code == 200
    with linking.engine.connect() as conn:
        assert conn.execute(sa.select(table(SpotifyLink).c.customer_pk)).scalar_one() == pk
    unknown = CliRunner().invoke(cli, ["spotify", "link-url", "--email", "nobody@example.com"])
    assert unknown.exit_code != 0 and "no active customer" in unknown.output


def test_unlink_removes_the_token_and_tombstones_the_spotify_row(linking: Linking) -> None:
    pk, token = customer_with_login(linking)
    assert linking.http.get(linking.consent(linking.connect(token))).status_code == 200
    result = linking.graphql(UNLINK, token)["unlinkSpotify"]
    assert result == {"success": True, "errors": None, "unlinked": 1}
    assert linking.count(SpotifyLink) == 0
    with linking.engine.connect() as conn:
        row = (
            conn.execute(sa.select(table(CustomerSource)).where(table(CustomerSource).c.source == "spotify"))
            .mappings()
            .one()
        )
    assert row["deleted"] is True
    consumer = linking.graphql(CONSUMER, token, {"id": to_global_id("IUserNode", pk)})["consumer"]
    assert consumer["picture"] is None and consumer["firstname"] == "Jane"
    # Unlinking twice is harmless.
    assert linking.graphql(UNLINK, token)["unlinkSpotify"]["unlinked"] == 0


def test_the_state_is_bound_to_its_customer(linking: Linking) -> None:
    # A state names one customer; the link lands on that customer, whoever's browser returns it.
    pk, _ = customer_with_login(linking)
    state = sign_state(linking.settings, pk)
    answer = linking.http.get(f"{linking.url}/callback/spotify", params={"state": state, "code": "made-up"})
    assert answer.status_code == 502 and "did not complete" in answer.text
    assert linking.count(SpotifyLink) == 0 and linking.count(OAuthStateUse) == 1


def test_without_spotify_configured_connect_says_it_is_unavailable(api: Api) -> None:
    # The shared test server has neither a Spotify app nor TOKEN_ENCRYPTION_KEY.
    pk = make_customer(api.engine)
    answer = api.http.get(
        f"{api.server.url}/connect/spotify", headers={"Authorization": f"JWT {api.token(pk)}"}
    )
    assert answer.status_code == 503 and "not available" in answer.text
    assert "TOKEN_ENCRYPTION_KEY" not in answer.text and "Traceback" not in answer.text
