"""Webhook fixtures: a real uvicorn server on PostgreSQL, draining in-process (no broker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api import create_app
from models import CustomerSource, SyncRun, WebhookInbox, get_engine
from sync.settings import Settings
from tests.api.webhooks.builders import ORG_ID, OUTBOUND_TOKEN, SECRET


@dataclass
class Served:
    url: str
    app: FastAPI
    stop: Any


def serve_in_thread(app: FastAPI) -> Served:
    """Serve `app` with uvicorn on an ephemeral port in a background thread."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return Served(f"http://127.0.0.1:{port}", app, stop)


def webhook_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-0123456789abcdef",
        "webhook_secret": SECRET,
        "salesforce_organization_id": ORG_ID,
        "salesforce_outbound_token": OUTBOUND_TOKEN,
        "webhook_sources": ["shop"],
        "webhook_max_body_bytes": 64 * 1024,
        "celery_broker_url": None,
        "redis_url": None,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Hooks:
    """The served API, its store, and what the tests look at."""

    url: str
    app: FastAPI
    engine: Engine
    settings: Settings
    http: httpx.Client

    def settle(self, timeout: float = 30) -> None:
        """Wait until the in-process drains are done."""
        assert self.app.state.webhook_drains.wait_idle(timeout), "drains still running"

    def sources(self, source: str = "salesforce") -> dict[str, dict[str, Any]]:
        cs = CustomerSource.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(cs).where(cs.c.source == source)).mappings()
            return {r["source_id"]: dict(r) for r in rows}

    def inbox(self) -> list[dict[str, Any]]:
        t = WebhookInbox.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.pk)).mappings()]

    def runs(self) -> list[dict[str, Any]]:
        t = SyncRun.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.started_at)).mappings()]


@pytest.fixture(scope="module")
def hooks_server(pg_url: str) -> Iterator[Served]:
    served = serve_in_thread(create_app(webhook_settings(pg_url)))
    yield served
    served.stop()
    served.app.state.webhook_drains.close()


@pytest.fixture
def hooks(hooks_server: Served, pg_only_url: str) -> Iterator[Hooks]:
    settings: Settings = hooks_server.app.state.services.settings
    client = Hooks(
        hooks_server.url, hooks_server.app, get_engine(pg_only_url), settings, httpx.Client(timeout=30)
    )
    yield client
    client.settle()
    client.http.close()
