"""Webhooks end to end with a real Celery worker process on the real Redis and PostgreSQL."""

from __future__ import annotations

import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa

from api import create_app
from models import WebhookInbox, get_engine, utcnow
from sync.celery import close_app, make_app
from sync.jobs.webhook import InboxItem, accept_delivery
from sync.settings import Settings
from tests.api.builders import make_customer, token_for
from tests.api.webhooks.builders import (
    contact,
    outbound_message,
    outbound_url,
    post_outbound,
    post_signed,
    signed_headers,
)
from tests.api.webhooks.conftest import Hooks, Served, serve_in_thread, webhook_settings

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

BIN = Path(sys.executable).parent
ACK = b"<Ack>true</Ack>"
WINDOW = 2.0  # seconds: the coalescing window (the default)


@dataclass
class Worker:
    settings: Settings
    env: dict[str, str]
    name: str


def _until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


@pytest.fixture(scope="module")
def worker(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """`celery -A sync worker` on its own queue, Redis database and key prefix."""
    tag = uuid.uuid4().hex[:10]
    broker = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
    values = {
        "DATABASE_URL": pg_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": f"test-webhooks-{tag}",
        "CELERY_KEY_PREFIX": f"test-webhooks-{tag}:",
        "WEBHOOK_DEBOUNCE_SECONDS": str(WINDOW),
        "LOG_LEVEL": "WARNING",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "REDIS_", "WEBHOOK_"))}
    env.update(values)
    name = f"webhooks-{tag}@{socket.gethostname()}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "sync", "worker", "-Q", values["CELERY_QUEUE"], "-n", name,
             "-c", "2", "--without-gossip", "--without-mingle", "-l", "WARNING"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so stopping it reaches the pool's children
        )  # fmt: skip
    settings = webhook_settings(
        pg_url,
        celery_broker_url=broker,
        celery_queue=values["CELERY_QUEUE"],
        celery_key_prefix=values["CELERY_KEY_PREFIX"],
        webhook_debounce_seconds=WINDOW,
    )
    app = make_app(settings)
    try:
        assert _until(lambda: bool(app.control.ping(destination=[name], timeout=0.5)), 60, 0.2), (
            log.read_text()
        )
        yield Worker(settings, env, name)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        client = redis.Redis.from_url(broker)
        for key in client.scan_iter(match=f"*{tag}*"):
            client.delete(key)
        client.close()
        close_app(app)


@pytest.fixture(scope="module")
def queued_server(worker: Worker) -> Iterator[Served]:
    served = serve_in_thread(create_app(worker.settings))
    yield served
    served.stop()
    served.app.state.webhook_drains.close()


@pytest.fixture
def queued(queued_server: Served, worker: Worker, pg_only_url: str) -> Iterator[Hooks]:
    hooks = Hooks(
        queued_server.url,
        queued_server.app,
        get_engine(pg_only_url),
        worker.settings,
        httpx.Client(timeout=30),
    )
    yield hooks
    hooks.http.close()
    # Whatever a test left queued finishes before the next test empties the store.
    _until(lambda: _drained(hooks), 30)


def _drained(hooks: Hooks) -> bool:
    return all(r["run_id"] is not None for r in hooks.inbox()) and all(
        r["status"] != "running" for r in hooks.runs()
    )


def _runs(hooks: Hooks) -> list[dict[str, Any]]:
    return [r for r in hooks.runs() if r["trigger"] == "webhook"]


def test_an_outbound_messages_contact_is_visible_through_graphql_within_seconds(queued: Hooks) -> None:
    staff = token_for(
        queued.engine, queued.settings, make_customer(queued.engine, user_type="ADMIN", staff=True)
    )[0]
    query = 'query { consumers(email_Icontains: "visible@example.com") { count edges { node { lastname entitySource entitySourceId } } } }'

    def served() -> dict[str, Any]:
        answer = queued.http.post(
            f"{queued.url}/graphql", json={"query": query}, headers={"Authorization": f"JWT {staff}"}
        )
        return answer.json()["data"]["consumers"]  # type: ignore[no-any-return]

    started = time.monotonic()
    answer = post_outbound(
        queued.http,
        queued.url,
        outbound_message(
            contact("04lV00000000001", "003V00000000001", Email="Visible@Example.com", LastName="Seen")
        ),
    )
    assert answer.status_code == 200 and ACK in answer.content
    assert _until(lambda: served()["count"] == 1, 10), "not visible within 10 s"
    elapsed = time.monotonic() - started

    node = served()["edges"][0]["node"]
    assert node == {"lastname": "Seen", "entitySource": "SALESFORCE", "entitySourceId": "003V00000000001"}
    assert elapsed < 5


def test_a_burst_of_100_webhooks_coalesces_into_a_few_runs_and_imports_every_record(queued: Hooks) -> None:
    started = time.monotonic()
    for i in range(100):
        body = outbound_message(contact(f"04lB{i:011d}", f"003B{i:011d}", Email=f"burst{i}@example.com"))
        assert post_outbound(queued.http, queued.url, body).status_code == 200
    posting = time.monotonic() - started

    assert _until(lambda: len(queued.sources()) == 100 and _drained(queued), 60)

    runs = _runs(queued)
    # One import per window while the burst lasts, plus the leading and the last trailing one.
    # The bound follows how long posting took (about 7 s here, longer on a loaded machine), so
    # a slow run cannot fail it; one run per webhook (100) would still be far above it.
    most = math.ceil(posting / WINDOW) + 2
    assert 1 <= len(runs) <= most, (posting, [(r["status"], r["read"]) for r in runs])
    assert sum(r["read"] for r in runs) == sum(r["created"] for r in runs) == 100
    inbox = queued.inbox()
    assert len(inbox) == 100
    assert {r["run_id"] for r in inbox} == {r["id"] for r in runs if r["read"]}, [
        (
            r["status"],
            r["read"],
            r["error"],
            r["started_at"].time(),
            r["finished_at"] and r["finished_at"].time(),
        )
        for r in runs
    ]


def test_a_duplicate_delivery_is_imported_once(queued: Hooks) -> None:
    body = outbound_message(contact("04lD00000000001", "003D00000000001", Email="dup@example.com"))
    assert post_outbound(queued.http, queued.url, body).status_code == 200
    assert _until(lambda: len(queued.sources()) == 1 and _drained(queued), 20)
    assert post_outbound(queued.http, queued.url, body).status_code == 200
    time.sleep(WINDOW + 1)

    assert _drained(queued)
    assert len(queued.inbox()) == 1
    assert sum(r["read"] for r in _runs(queued)) == 1


def test_a_task_delivered_again_imports_nothing_twice(queued: Hooks, worker: Worker) -> None:
    body = outbound_message(contact("04lR00000000001", "003R00000000001", Email="again@example.com"))
    assert post_outbound(queued.http, queued.url, body).status_code == 200
    assert _until(lambda: len(queued.sources()) == 1 and _drained(queued), 20)
    runs_before = _runs(queued)

    app = make_app(worker.settings)
    try:
        result = app.send_task("sync.webhook.import", args=["salesforce", "contacts"]).get(timeout=30)
    finally:
        close_app(app)

    assert result["records"] is None
    assert _runs(queued) == runs_before


def _bad_requests(url: str) -> list[tuple[str, bytes, dict[str, str], int]]:
    good = b'{"records": [{"entitySourceId": "c-1", "email": "one@example.com"}]}'
    forged = signed_headers(good)
    forged["X-Signature"] = "sha256=" + "0" * 64
    big = b'{"records": [{"entitySourceId": "c-1", "note": "' + b"x" * 70_000 + b'"}]}'
    xml = {"Content-Type": "text/xml"}
    return [
        (f"{url}/webhooks/shop", good, forged, 401),
        (f"{url}/webhooks/shop", good, signed_headers(good, timestamp=int(time.time()) - 600), 401),
        (f"{url}/webhooks/shop", b'{"records": [', signed_headers(b'{"records": ['), 400),
        (f"{url}/webhooks/shop", big, signed_headers(big), 413),
        (outbound_url(url), outbound_message(contact("04lX1", "003X1"), org="00D00000000WRNG"), xml, 400),
        # The right org id is no credential: without the endpoint URL's token nothing is taken.
        (outbound_url(url, None), outbound_message(contact("04lX2", "003X2")), xml, 401),
        (outbound_url(url, "guessed"), outbound_message(contact("04lX3", "003X3")), xml, 401),
        (outbound_url(url), b"<soapenv:Envelope><oops", xml, 400),
    ]


def test_bad_deliveries_get_a_4xx_and_import_nothing(queued: Hooks) -> None:
    for url, body, headers, status in _bad_requests(queued.url):
        answer = queued.http.post(url, content=body, headers=headers)
        assert answer.status_code == status, (url, answer.text)
    time.sleep(WINDOW + 1)

    assert queued.inbox() == [] and queued.runs() == [] and queued.sources("shop") == {}


def test_signed_native_records_are_imported_by_the_worker(queued: Hooks) -> None:
    answer = post_signed(
        queued.http,
        f"{queued.url}/webhooks/shop",
        {"records": [{"entitySourceId": "s-1", "email": "shop@example.com"}]},
    )

    assert answer.status_code == 202
    assert _until(lambda: "s-1" in queued.sources("shop"), 20)


def test_the_sweep_asks_again_for_rows_whose_request_was_lost(queued: Hooks, worker: Worker) -> None:
    # Stored, but their import never requested (as when the broker was down right after).
    item = InboxItem("003W00000000001", {"Id": "003W00000000001", "Email": "lost@example.com"}, utcnow())
    accept_delivery(queued.engine, "salesforce", "contacts", {"04lW1": [item]})
    inbox = WebhookInbox.__table__  # type: ignore[attr-defined]
    with queued.engine.begin() as conn:
        conn.execute(sa.update(inbox).values(received_at=utcnow() - timedelta(minutes=5)))

    app = make_app(worker.settings)
    try:
        result = app.send_task("sync.webhook.sweep").get(timeout=30)
    finally:
        close_app(app)

    assert result == {"requested": ["salesforce/contacts"]}
    assert _until(lambda: "003W00000000001" in queued.sources() and _drained(queued), 20)
