"""Webhook-to-GraphQL visibility: an Outbound Message posted, until its contact is served (real processes)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import redis
import sqlalchemy as sa

import models
from api.auth import issue_session
from models import Customer, SyncRun, get_engine, utcnow

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
ORG_ID = "00D1I000003qqqE"
OUTBOUND_TOKEN = uuid.uuid4().hex
BIN = Path(sys.executable).parent

QUERY = (
    """query ($e: String) { consumers(email_Icontains: $e, first: 100) { count edges { node { email } } } }"""
)


def _message(contact_id: str, email: str, nid: str) -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{ORG_ID}</OrganizationId><ActionId>04k000000000001</ActionId>"
        "<SessionId>00D!not-a-real-session</SessionId>"
        f"<Notification><Id>{nid}</Id>"
        '<sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{contact_id}</sf:Id><sf:Email>{escape(email)}</sf:Email>"
        f"<sf:LastName>Bench</sf:LastName><sf:SystemModstamp>{stamp}</sf:SystemModstamp>"
        "</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """The API server and the worker, as separate processes, on one PostgreSQL and one Redis."""

    url: str
    database_url: str
    token: str
    env: dict[str, str]


@contextmanager
def _database() -> Iterator[str]:
    name = f"cs_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        models.upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the API did not start")


def _wait_worker(env: dict[str, str], deadline: float) -> None:
    # The worker is up once it answers a ping on our queue's control channel.
    probe = "import sys; from sync.celery import app; sys.exit(0 if app.control.ping(timeout=1.0) else 1)"
    while time.monotonic() < deadline:
        if subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True).returncode == 0:
            return
        time.sleep(0.3)
    raise RuntimeError("the worker did not start")


@contextmanager
def stack(database_url: str, logs: Path) -> Iterator[Stack]:
    tag = uuid.uuid4().hex[:8]
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": f"{REDIS}/{random.randint(1, 15)}",
        "CELERY_QUEUE": f"bench-{tag}",
        "CELERY_KEY_PREFIX": f"bench-{tag}:",
        "SALESFORCE_ORGANIZATION_ID": ORG_ID,
        "SALESFORCE_OUTBOUND_TOKEN": OUTBOUND_TOKEN,
        "WEBHOOK_SECRET": uuid.uuid4().hex,
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "APP_ENV": "development",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with (logs / "worker.log").open("wb") as wlog, (logs / "api.log").open("wb") as alog:
            processes.append(
                subprocess.Popen(
                    [
                        str(BIN / "celery"),
                        "-A",
                        "sync",
                        "worker",
                        "-Q",
                        env["CELERY_QUEUE"],
                        "-c",
                        "1",
                        "--without-gossip",
                        "--without-mingle",
                        "-l",
                        "WARNING",
                    ],
                    env=env,
                    stdout=wlog,
                    stderr=subprocess.STDOUT,
                )
            )
            processes.append(
                subprocess.Popen(
                    [str(BIN / "customer-sync"), "serve", "--port", str(port)],
                    env=env,
                    stdout=alog,
                    stderr=subprocess.STDOUT,
                )
            )
            deadline = time.monotonic() + 60
            url = f"http://127.0.0.1:{port}"
            _wait_http(url, deadline)
            _wait_worker(env, deadline)
            token = _staff_token(database_url, env)
            yield Stack(url, database_url, token, env)
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        _forget_keys(env)


def _forget_keys(env: dict[str, str]) -> None:
    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    for key in client.scan_iter(match=f"{env['CELERY_KEY_PREFIX']}*"):
        client.delete(key)
    for key in client.scan_iter(match=f"*{env['CELERY_QUEUE']}*"):
        client.delete(key)
    client.close()


def _staff_token(database_url: str, env: dict[str, str]) -> str:
    from sync.settings import Settings

    settings = Settings(database_url=database_url, secret_key=env["SECRET_KEY"])
    engine = get_engine(database_url)
    now = utcnow()
    with engine.begin() as conn:
        pk = conn.execute(
            sa.insert(Customer.__table__)  # type: ignore[attr-defined]
            .values(
                email="bench-staff@example.com",
                loyalty_id="LDBENCHSTAFF",
                user_type="ADMIN",
                extra_info={},
                num_of_order_discounts_allowed=0,
                entity_source="INTERNAL",
                entity_source_id="bench",
                active=True,
                staff=True,
                admin=True,
                archived=False,
                verified=True,
                created_at=now,
                updated_at=now,
            )
            .returning(Customer.__table__.c.pk)  # type: ignore[attr-defined]
        ).scalar_one()
        return issue_session(conn, settings, int(pk), None, now)[0]


def _visible(http: httpx.Client, s: Stack, prefix: str) -> set[str]:
    answer = http.post(
        f"{s.url}/graphql",
        json={"query": QUERY, "variables": {"e": prefix}},
        headers={"Authorization": f"JWT {s.token}"},
    )
    answer.raise_for_status()
    edges = answer.json()["data"]["consumers"]["edges"]
    return {e["node"]["email"] for e in edges}


def _post(http: httpx.Client, s: Stack, body: bytes) -> None:
    answer = http.post(
        f"{s.url}/webhooks/salesforce?token={OUTBOUND_TOKEN}",
        content=body,
        headers={"Content-Type": "text/xml"},
    )
    if answer.status_code != 200:
        raise RuntimeError(f"webhook answered {answer.status_code}")


def one_at_a_time(s: Stack, n: int, poll: float) -> list[float]:
    """Each delivery posted as soon as the previous one is visible (so inside its window)."""
    latencies = []
    with httpx.Client(timeout=30) as http:
        for i in range(n):
            email = f"seq{i}-{uuid.uuid4().hex[:6]}@example.com"
            started = time.perf_counter()
            _post(http, s, _message(f"003SEQ{i:09d}", email, f"04lSEQ{i:09d}"))
            while email not in _visible(http, s, email):
                time.sleep(poll)
            latencies.append(time.perf_counter() - started)
    return latencies


def isolated(s: Stack, n: int, poll: float, gap: float) -> list[float]:
    """Deliveries `gap` seconds apart (longer than the coalescing window): a lone webhook's time."""
    latencies = []
    with httpx.Client(timeout=30) as http:
        for i in range(n):
            email = f"iso{i}-{uuid.uuid4().hex[:6]}@example.com"
            started = time.perf_counter()
            _post(http, s, _message(f"003ISO{i:09d}", email, f"04lISO{i:09d}"))
            while email not in _visible(http, s, email):
                time.sleep(poll)
            latencies.append(time.perf_counter() - started)
            time.sleep(max(0.0, gap - (time.perf_counter() - started)))
    return latencies


def burst(s: Stack, n: int, poll: float) -> list[float]:
    """`n` deliveries posted back to back; each one's time from its post until it is visible."""
    tag = uuid.uuid4().hex[:6]
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    with httpx.Client(timeout=30) as http:
        for i in range(n):
            email = f"burst{i}-{tag}@example.com"
            sent[email] = time.perf_counter()
            _post(http, s, _message(f"003BUR{i:09d}", email, f"04lBUR{i:09d}"))
        deadline = time.monotonic() + 120
        while len(seen) < n and time.monotonic() < deadline:
            now = time.perf_counter()
            for email in _visible(http, s, f"-{tag}@") - seen.keys():
                seen[email] = now
            time.sleep(poll)
    if len(seen) < n:
        raise RuntimeError(f"only {len(seen)} of {n} burst deliveries became visible")
    return [seen[e] - sent[e] for e in sent]


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _webhook_runs(database_url: str) -> int:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with get_engine(database_url).connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(runs).where(runs.c.trigger == "webhook")
            ).scalar_one()
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=50, help="deliveries per scenario")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="how often GraphQL is asked")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    poll = args.poll_ms / 1000
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "deliveries": args.deliveries,
        "poll_ms": args.poll_ms,
    }
    window = float(os.environ.get("WEBHOOK_DEBOUNCE_SECONDS", "2"))
    report["window_s"] = window
    scenarios = {
        "isolated": lambda s: isolated(s, args.deliveries, poll, window + 0.5),
        "one at a time": lambda s: one_at_a_time(s, args.deliveries, poll),
        "burst": lambda s: burst(s, args.deliveries, poll),
    }
    with _database() as url, tempfile.TemporaryDirectory() as tmp, stack(url, Path(tmp)) as s:
        for name, scenario in scenarios.items():
            time.sleep(window + 1)  # let the previous coalescing window close
            runs_before = _webhook_runs(url)
            report[name] = _stats(scenario(s))
            time.sleep(window + 1)
            report[name]["runs"] = _webhook_runs(url) - runs_before
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"webhook -> GraphQL visibility, {report['machine']}, coalescing window {window:g} s, "
        f"poll every {args.poll_ms:g} ms"
    )
    for scenario in scenarios:
        r = report[scenario]
        print(
            f"  {scenario:<14} n={r['n']:<4} p50 {r['p50_ms']:>8.1f} ms  p95 {r['p95_ms']:>8.1f} ms  "
            f"max {r['max_ms']:>8.1f} ms  import runs {r['runs']}"
        )


if __name__ == "__main__":
    main()
