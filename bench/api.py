"""API section of the speed benchmark: the documented reads against a real uvicorn server, beside their SQL."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg2
import sqlalchemy as sa

from api.auth import issue_session
from models import get_engine, utcnow
from sync.settings import Settings

LEVELS = (1, 10, 50)

CONSUMER_FIELDS = "pk id firstname lastname email pointsEarned phoneNumber birthday address lastLogin loyaltyId picture city"
# The documented operations (graphql_client/queries), with the filter passed as a variable.
QUERIES: dict[str, str] = {
    "consumers(email_Icontains)": (
        "query ($q: String) { consumers(email_Icontains: $q) { edges { node { " + CONSUMER_FIELDS + " } } } }"
    ),
    "consumers(phoneNumber_Icontains)": (
        "query ($q: String) { consumers(phoneNumber_Icontains: $q) { edges { node { "
        + CONSUMER_FIELDS
        + " } } } }"
    ),
    "consumer(id) + 3 connections": (
        "query ($id: ID!) { consumer(id: $id) { pointsEarned"
        " redemptions { edges { node { id createdAt } } }"
        " stampsRedemptions { edges { node { id createdAt } } }"
        " pointsRedemptions { edges { node { id createdAt } } } } }"
    ),
    "orders(consumer_Id)": (
        "query ($id: ID!, $storeId: ID) { purchaseHistory: orders(consumer_Id: $id, store_Id: $storeId) {"
        " edges { node { orderId completedAt paymentTypeDisplay total orderType { name } } } } }"
    ),
}

# What the resolvers send for the same request (auth aside), one page of 100 (+1 to see the next).
_POINTS = (
    "SELECT customer_pk, sum(delta) FROM points_ledger WHERE customer_pk = ANY(%s) AND delta > 0 GROUP BY 1"
)
_REDEMPTIONS = (
    "SELECT * FROM redemption WHERE customer_pk = %s {kind} ORDER BY created_at DESC, pk DESC LIMIT 101"
)


def _sql_consumers(column: str) -> Callable[[Any, dict[str, Any]], None]:
    def run(cur: Any, arg: dict[str, Any]) -> None:
        cur.execute(
            f"SELECT pk, customer.* FROM customer WHERE {column} ILIKE %s ESCAPE '/' ORDER BY pk LIMIT 101",
            ("%" + arg["q"] + "%",),
        )
        pks = [r[0] for r in cur.fetchall()]
        cur.execute(_POINTS, (pks,))
        cur.fetchall()

    return run


def _sql_consumer(cur: Any, arg: dict[str, Any]) -> None:
    cur.execute("SELECT * FROM customer WHERE pk = %s", (arg["pk"],))
    cur.fetchall()
    cur.execute(_POINTS, ([arg["pk"]],))
    cur.fetchall()
    for kind in ("", "AND kind = 'STAMPS'", "AND kind = 'POINTS'"):
        cur.execute(_REDEMPTIONS.format(kind=kind), (arg["pk"],))
        cur.fetchall()


def _sql_orders(cur: Any, arg: dict[str, Any]) -> None:
    cur.execute(
        "SELECT o.*, t.name, s.name FROM customer_order o"
        " LEFT JOIN order_type t ON t.pk = o.order_type_pk LEFT JOIN store s ON s.pk = o.store_pk"
        " WHERE o.customer_pk = %s ORDER BY o.completed_at DESC NULLS LAST, o.pk DESC LIMIT 101",
        (arg["pk"],),
    )
    cur.fetchall()


SQL: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "consumers(email_Icontains)": _sql_consumers("email"),
    "consumers(phoneNumber_Icontains)": _sql_consumers("phone_number"),
    "consumer(id) + 3 connections": _sql_consumer,
    "orders(consumer_Id)": _sql_orders,
}


@dataclass(slots=True)
class Latency:
    """Latencies of one operation through one path at one concurrency."""

    operation: str
    path: str  # "graphql" or "sql"
    clients: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def _latency(op: str, path: str, clients: int, ms: list[float], errors: int, seconds: float) -> Latency:
    ms.sort()
    return Latency(
        op,
        path,
        clients,
        len(ms),
        errors,
        seconds,
        _percentile(ms, 0.5),
        _percentile(ms, 0.95),
        _percentile(ms, 0.99),
    )


def seed_commerce(url: str, orders_per_customer: int) -> dict[str, int]:
    """Stores, order types, orders, ledger entries and redemptions for every customer, set-wise."""
    engine = get_engine(url)
    with engine.begin() as conn:
        run = conn.execute
        run(
            sa.text(
                "INSERT INTO store (name, created_at) SELECT 'Store ' || g, now() FROM generate_series(1, 10) g"
            )
        )
        run(sa.text("INSERT INTO order_type (name) VALUES ('DINE_IN'), ('TAKE_AWAY'), ('ONLINE')"))
        run(
            sa.text(
                "INSERT INTO customer_order (source, source_id, order_id, customer_pk, store_pk, order_type_pk,"
                " completed_at, payment_type, total, currency, content_hash, extra_info, created_at, updated_at)"
                " SELECT 'bench', c.pk || '-' || g, 'O' || c.pk || '-' || g, c.pk, 1 + (c.pk + g) % 10,"
                " 1 + g % 3, now() - make_interval(days => (c.pk * 7 + g * 13) % 700), 'CARD',"
                " ((c.pk * 31 + g * 17) % 10000) / 100.0, 'EUR', '', '{}', now(), now()"
                " FROM customer c CROSS JOIN generate_series(1, :k) g"
            ),
            {"k": orders_per_customer},
        )
        run(
            sa.text(
                "INSERT INTO points_ledger (source, source_id, customer_pk, delta, reason, order_pk, created_at)"
                " SELECT 'bench', o.source_id, o.customer_pk, 10, 'order', o.pk, o.completed_at FROM customer_order o"
            )
        )
        run(
            sa.text(
                "INSERT INTO redemption (source, source_id, customer_pk, kind, points, stamps, content_hash, created_at)"
                " SELECT 'bench', c.pk || '-' || g, c.pk, CASE WHEN g = 1 THEN 'POINTS' ELSE 'STAMPS' END,"
                " 5, 1, '', now() - make_interval(days => g) FROM customer c CROSS JOIN generate_series(1, 2) g"
            )
        )
        counts = {
            t: int(run(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("customer", "customer_order", "redemption", "points_ledger")
        }
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return counts


def admin_token(url: str, settings: Settings) -> str:
    """An access token of a staff customer, who may read everyone."""
    engine = get_engine(url)
    with engine.begin() as conn:
        pk = conn.execute(
            sa.text(
                "INSERT INTO customer (loyalty_id, firstname, lastname, user_type, staff, admin, active, archived,"
                " verified, num_of_order_discounts_allowed, extra_info, created_at, updated_at)"
                " VALUES ('BENCHADMIN', 'Bench', 'Admin', 'CONSUMER', true, true, true, false, true, 0, '{}',"
                " now(), now()) RETURNING pk"
            )
        ).scalar_one()
        access, _refresh = issue_session(conn, settings, int(pk), None, utcnow())
    return access


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The API under uvicorn in its own process (one worker), as `customer-sync serve` runs it."""

    def __init__(self, url: str, secret_key: str) -> None:
        self.port = _free_port()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secret_key, "APP_ENV": "production"}
        app = ["api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(self.port)]
        quiet = ["--log-level", "warning", "--no-access-log"]
        # Its access log is not the benchmark's output.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *app, *quiet],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _graphql_load(
    url: str, token: str, query: str, args: list[dict[str, Any]], clients: int, seconds: float
) -> tuple[list[float], int, float]:
    ms: list[float] = []
    errors = 0
    headers = {"Authorization": f"JWT {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        stop_at = time.perf_counter() + seconds

        async def one_client(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < stop_at:
                variables = args[i % len(args)]
                i += clients
                t0 = time.perf_counter()
                response = await client.post("/graphql", json={"query": query, "variables": variables})
                elapsed = (time.perf_counter() - t0) * 1000
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    errors += 1
                ms.append(elapsed)

        started = time.perf_counter()
        await asyncio.gather(*(one_client(n) for n in range(clients)))
        return ms, errors, time.perf_counter() - started


def _sql_load(
    dsn: str,
    run: Callable[[Any, dict[str, Any]], None],
    args: list[dict[str, Any]],
    clients: int,
    seconds: float,
) -> tuple[list[float], int, float]:
    ms: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def one_client(n: int) -> None:
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        mine: list[float] = []
        try:
            with conn.cursor() as cur:
                i = n
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    run(cur, args[i % len(args)])
                    mine.append((time.perf_counter() - t0) * 1000)
                    i += clients
        except BaseException as exc:
            failures.append(exc)
        finally:
            conn.close()
        with lock:
            ms.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return ms, 0, time.perf_counter() - started


def _arguments(url: str, n: int = 500) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(GraphQL variables, SQL arguments) per operation, for customers picked at random (seeded)."""
    engine = get_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT pk, email, phone_number FROM customer WHERE email IS NOT NULL AND phone_number IS NOT NULL"
                " ORDER BY md5(pk::text) LIMIT :n"
            ),
            {"n": n},
        ).all()
    from api.graphql import to_global_id

    emails = [r.email.split("@")[0] + "@" for r in rows]
    phones = [r.phone_number[-7:] for r in rows]
    ids = [{"id": to_global_id("IUserNode", r.pk)} for r in rows]
    pks = [{"pk": r.pk} for r in rows]
    return {
        "consumers(email_Icontains)": ([{"q": e} for e in emails], [{"q": e} for e in emails]),
        "consumers(phoneNumber_Icontains)": ([{"q": p} for p in phones], [{"q": p} for p in phones]),
        "consumer(id) + 3 connections": (ids, pks),
        "orders(consumer_Id)": (ids, pks),
    }


def run_api_benchmark(
    url: str,
    seconds: float = 3.0,
    levels: tuple[int, ...] = LEVELS,
    progress: Callable[[str], None] | None = None,
) -> list[Latency]:
    """Every operation at every concurrency, through GraphQL on uvicorn and as plain SQL."""
    say = progress or (lambda _msg: None)
    secret_key = secrets.token_urlsafe(48)
    settings = Settings(database_url=url, secret_key=secret_key)
    token = admin_token(url, settings)
    arguments = _arguments(url)
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    results: list[Latency] = []
    server = Server(url, secret_key)
    try:
        for op, query in QUERIES.items():
            gql_args, sql_args = arguments[op]
            # One warm-up request per argument kind: first-use costs are not what is measured.
            asyncio.run(_graphql_load(server.url, token, query, gql_args[:5], 1, 0.2))
            for clients in levels:
                say(f"api: {op} at {clients} client(s)")
                ms, errors, took = asyncio.run(
                    _graphql_load(server.url, token, query, gql_args, clients, seconds)
                )
                results.append(_latency(op, "graphql", clients, ms, errors, took))
                ms, errors, took = _sql_load(dsn, SQL[op], sql_args, clients, seconds)
                results.append(_latency(op, "sql", clients, ms, errors, took))
    finally:
        server.stop()
    return results
