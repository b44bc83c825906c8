"""API fixtures: one real uvicorn server per session on PostgreSQL, an emptied store per test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from api import MemoryMailSender, create_app
from models import get_engine
from sync.settings import Settings
from tests.api.builders import make_customer, token_for


@dataclass
class LiveServer:
    url: str
    settings: Settings
    mailer: MemoryMailSender


@pytest.fixture(scope="session")
def live_server(pg_url: str) -> Iterator[LiveServer]:
    """The real app served by uvicorn on an ephemeral port, in a background thread."""
    # Cheap argon2 parameters: the tests check behaviour, not hashing cost.
    # Development, explicitly: GraphiQL and introspection are on, as a developer runs it.
    settings = Settings(
        database_url=pg_url,
        app_env="development",
        secret_key="test-secret-key-0123456789abcdef",
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
    )
    mailer = MemoryMailSender()
    config = uvicorn.Config(
        create_app(settings, mailer), host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield LiveServer(url=f"http://127.0.0.1:{port}", settings=settings, mailer=mailer)
    server.should_exit = True
    thread.join(timeout=10)


class Api:
    """Talks GraphQL to the live server, as anyone or as a given customer."""

    def __init__(self, server: LiveServer, engine: Engine) -> None:
        self.server = server
        self.engine = engine
        self.settings = server.settings
        self.mailer = server.mailer
        self.url = f"{server.url}/graphql"
        self.http = httpx.Client(timeout=30)

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        scheme: str = "JWT",
    ) -> httpx.Response:
        headers = {"Authorization": f"{scheme} {token}"} if token else {}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        # json.dumps escapes as browsers do (a lone surrogate travels as `\ud800`); httpx's
        # own encoder writes raw UTF-8, which cannot carry one.
        headers["Content-Type"] = "application/json"
        return self.http.post(self.url, content=json.dumps(body), headers=headers)

    def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        response = self.post(query, variables, token)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        payload = self.gql(query, variables, token)
        assert "errors" not in payload, payload
        return payload["data"]  # type: ignore[no-any-return]

    def token(self, customer_pk: int) -> str:
        return token_for(self.engine, self.settings, customer_pk)[0]

    def staff_token(self) -> str:
        pk = make_customer(self.engine, user_type="ADMIN", staff=True, admin=True)
        return self.token(pk)


@pytest.fixture
def api(live_server: LiveServer, pg_only_url: str) -> Iterator[Api]:
    live_server.mailer.outbox.clear()
    client = Api(live_server, get_engine(pg_only_url))
    yield client
    client.http.close()


@dataclass
class CapturedLogs:
    """Every log line the server wrote during a test: structlog events and stdlib records."""

    events: list[dict[str, Any]]
    caplog: pytest.LogCaptureFixture

    def text(self) -> str:
        import json

        lines = [json.dumps(e, default=str) for e in self.events]
        return "\n".join([*lines, self.caplog.text])

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[CapturedLogs]:
    """What the live server logs while the test runs (it shares this process)."""
    import logging

    from structlog.testing import capture_logs

    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        yield CapturedLogs(events, caplog)
