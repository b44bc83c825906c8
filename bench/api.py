"""API section of the speed benchmark: the documented reads against a real uvicorn server, beside their SQL."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import sqlalchemy as sa

from api.auth import issue_session
from bench.api_store import ADMIN_LOYALTY_ID
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

# What the resolvers send for the same request (auth aside), one page of 100 (+1 to see the next):
# each customer with its points earned in the same statement, a consumer's three redemption
# pages in one (api.graphql.customers, api.graphql.loaders, api.graphql.read_ahead).
_WITH_POINTS = (
    "SELECT customer.*, (SELECT coalesce(sum(delta), 0) FROM points_ledger"
    " WHERE customer_pk = customer.pk AND delta > 0) AS points_earned FROM customer"
)
_REDEMPTIONS = (
    " UNION ALL ".join(
        f"(SELECT redemption.*, {part} AS part FROM redemption WHERE customer_pk = %(pk)s {kind}"
        " ORDER BY created_at DESC, pk DESC LIMIT 101)"
        for part, kind in enumerate(("", "AND kind = 'STAMPS'", "AND kind = 'POINTS'"))
    )
    + " ORDER BY part, created_at DESC, pk DESC"
)


def _sql_consumers(column: str) -> Callable[[Any, dict[str, Any]], None]:
    def run(cur: Any, arg: dict[str, Any]) -> None:
        cur.execute(
            f"{_WITH_POINTS} WHERE lower({column}) LIKE lower(%s) ESCAPE '/' ORDER BY pk LIMIT 101",
            ("%" + _escaped(arg["q"]) + "%",),
        )
        cur.fetchall()

    return run


def _escaped(term: str) -> str:
    # As the resolver's autoescape does: `_` and `%` typed in a term (`mary_smith@`) are literal.
    return term.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _sql_consumer(cur: Any, arg: dict[str, Any]) -> None:
    cur.execute(f"{_WITH_POINTS} WHERE pk = %(pk)s", arg)
    cur.fetchall()
    cur.execute(_REDEMPTIONS, arg)
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
    # The server's CPU time (every process of it) over the level ÷ requests; None for `sql`.
    server_cpu_ms: float | None = None
    # How long its threads were ready to run but waited for a core (run-queue delay, /proc
    # schedstat) over the level ÷ requests: what the machine's other processes cost it.
    server_wait_ms: float | None = None

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def _latency(
    op: str,
    path: str,
    clients: int,
    ms: list[float],
    errors: int,
    seconds: float,
    server_cpu_s: float | None = None,
    server_wait_s: float | None = None,
) -> Latency:
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
        None if server_cpu_s is None or not ms else server_cpu_s * 1000 / len(ms),
        None if server_wait_s is None or not ms else server_wait_s * 1000 / len(ms),
    )


def admin_token(url: str, settings: Settings) -> str:
    """An access token of a staff customer, who may read everyone (the same one on a reused store)."""
    engine = get_engine(url)
    with engine.begin() as conn:
        pk = conn.execute(
            sa.text("SELECT pk FROM customer WHERE loyalty_id = :lid"), {"lid": ADMIN_LOYALTY_ID}
        ).scalar_one_or_none()
        if pk is None:
            pk = conn.execute(
                sa.text(
                    "INSERT INTO customer (loyalty_id, firstname, lastname, user_type, staff, admin, active,"
                    " archived, verified, num_of_order_discounts_allowed, extra_info, created_at, updated_at)"
                    " VALUES (:lid, 'Bench', 'Admin', 'CONSUMER', true, true, true, false, true, 0, '{}',"
                    " now(), now()) RETURNING pk"
                ),
                {"lid": ADMIN_LOYALTY_ID},
            ).scalar_one()
        access, _refresh = issue_session(conn, settings, int(pk), None, utcnow())
    return access


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The API as production runs it: `customer-sync serve` (uvicorn), in its own process group."""

    def __init__(self, url: str, secret_key: str, workers: int = 1) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": secret_key,
            "APP_ENV": "production",
            "LOG_LEVEL": "INFO",  # its access and operation lines are part of its cost
        }
        cli = str(Path(sys.executable).with_name("customer-sync"))
        command = [cli, "serve", "--port", str(self.port), "--workers", str(workers)]
        # Its log is not the benchmark's output.
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
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

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server and its worker processes so far (None without /proc).

        The lever of the API's latency: with N clients in a closed loop each request waits for
        the N - 1 ahead of it, so latency is about N x this per request ÷ the cores it gets.
        """
        return _tree_cpu_seconds(self.proc.pid)

    def wait_seconds(self) -> float | None:
        """Seconds the server's threads have spent ready to run but waiting for a core (None
        without /proc schedstat): on a shared machine, the part of the latency no code change
        on the server removes."""
        return _tree_run_delay_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # After the command name (which may hold spaces and parentheses): state, ppid, ...
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


def _tree_cpu_seconds(root: int) -> float | None:
    """CPU seconds (user + system) of `root` and every live descendant, from /proc."""
    if _proc_stat(root) is None:
        return None
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _proc_stat(int(entry))) is not None:
            stats[int(entry)] = stat
            parents[int(entry)] = int(stat[1])
    tree = {root}
    grew = True
    while grew:
        found = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= found
        grew = bool(found)
    # Fields 14 and 15 of proc(5) (utime, stime), here at 11 and 12 after the name.
    ticks = sum(int(stats[pid][11]) + int(stats[pid][12]) for pid in tree if pid in stats)
    return ticks / _CLOCK_TICKS


def _tree_run_delay_seconds(root: int) -> float | None:
    """Run-queue delay (schedstat's second field) of every thread of `root` and its children.

    A thread that ended during the level takes its delay with it: the server's event loop and
    read threads live as long as it does.
    """
    if not os.path.exists(f"/proc/{root}/schedstat"):
        return None
    pids = [root] + [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == root]
    delay_ns = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    delay_ns += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return delay_ns / 1e9


def _parent(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return int(stat[1]) if stat is not None else None


async def _graphql_load_httpx(
    url: str, token: str, query: str, args: list[dict[str, Any]], clients: int, seconds: float
) -> tuple[list[float], int, float]:
    """The load as this benchmark sent it until 2026-12-01 (`--client httpx`): httpx's async client.

    It costs ~1.6 ms of CPU per request on this machine, as much as the server's, in the one
    process that runs every client: at ten clients its own queue was most of the tail it printed.
    """
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


class _KeepAlive:
    """One client's keep-alive HTTP/1.1 connection, sending JSON POSTs and reading whole answers.

    Only what this benchmark's server speaks: every answer has a `Content-Length` (one that
    has none, or is chunked, fails the run rather than being misread). About a fifteenth of
    httpx's CPU per request, so the latency printed is the server's, not the client's queue.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        self.reader = reader
        self.writer = writer
        self.head = head  # request line and fixed headers, without Content-Length

    @classmethod
    async def open(cls, url: str, path: str, headers: dict[str, str]) -> _KeepAlive:
        target = httpx.URL(url)
        reader, writer = await asyncio.open_connection(target.host, target.port)
        lines = [f"POST {path} HTTP/1.1", f"host: {target.host}:{target.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return cls(reader, writer, ("\r\n".join(lines) + "\r\n").encode("latin-1"))

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """`(status, body)` of one POST of `body`."""
        self.writer.write(b"%bcontent-length: %d\r\n\r\n%b" % (self.head, len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        length = None
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"an answer without Content-Length: {status_line!r}")
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _graphql_load(
    url: str, token: str, query: str, args: list[dict[str, Any]], clients: int, seconds: float
) -> tuple[list[float], int, float]:
    """`clients` closed-loop clients on their own keep-alive connections for `seconds`:
    `(latencies in ms, answers that were not 200 or held errors, seconds taken)`."""
    ms: list[float] = []
    errors = 0
    headers = {"content-type": "application/json", "authorization": f"JWT {token}"}
    stop_at = time.perf_counter() + seconds

    async def one_client(n: int) -> None:
        nonlocal errors
        connection = await _KeepAlive.open(url, "/graphql", headers)
        try:
            i = n
            while time.perf_counter() < stop_at:
                body = json.dumps({"query": query, "variables": args[i % len(args)]}).encode()
                i += clients
                t0 = time.perf_counter()
                status, answer = await connection.post(body)
                ms.append((time.perf_counter() - t0) * 1000)
                if status != 200 or json.loads(answer).get("errors"):
                    errors += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client(n) for n in range(clients)))
    return ms, errors, time.perf_counter() - started


# How the GraphQL load is sent (`--client`).
CLIENTS = {"lean": _graphql_load, "httpx": _graphql_load_httpx}


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
    workers: int = 1,
    client: str = "lean",
) -> list[Latency]:
    """Every operation at every concurrency, through GraphQL on `customer-sync serve` and as plain SQL.

    `client` is how the GraphQL load is sent: "lean" (`_KeepAlive`) or "httpx" (the figures of
    before 2026-12-01).
    """
    say = progress or (lambda _msg: None)
    load = CLIENTS[client]
    secret_key = secrets.token_urlsafe(48)
    settings = Settings(database_url=url, secret_key=secret_key)
    token = admin_token(url, settings)
    arguments = _arguments(url)
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    results: list[Latency] = []
    server = Server(url, secret_key, workers)
    try:
        for op, query in QUERIES.items():
            gql_args, sql_args = arguments[op]
            # A few warm-up requests (every worker): first-use costs are not what is measured.
            asyncio.run(load(server.url, token, query, gql_args[:10], workers, 0.3))
            for clients in levels:
                say(f"api: {op} at {clients} client(s)")
                cpu_before, wait_before = server.cpu_seconds(), server.wait_seconds()
                ms, errors, took = asyncio.run(load(server.url, token, query, gql_args, clients, seconds))
                cpu_after, wait_after = server.cpu_seconds(), server.wait_seconds()
                cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
                wait = None if wait_before is None or wait_after is None else wait_after - wait_before
                results.append(_latency(op, "graphql", clients, ms, errors, took, cpu, wait))
                ms, errors, took = _sql_load(dsn, SQL[op], sql_args, clients, seconds)
                results.append(_latency(op, "sql", clients, ms, errors, took))
    finally:
        server.stop()
    return results


EMAIL_OP = "consumers(email_Icontains)"


def api_targets(api: list[Latency], customers: int) -> list[tuple[str, str, str, bool]]:
    """Issue 9's API targets as `(name, wanted, measured, met)`, judged at 10 clients.

    A shorter run without 10 clients is judged at its highest level.
    """

    def latency(op: str, path: str, clients: int) -> Latency | None:
        return next((x for x in api if x.operation == op and x.path == path and x.clients == clients), None)

    out: list[tuple[str, str, str, bool]] = []
    levels = {x.clients for x in api}
    at = 10 if 10 in levels or not levels else max(levels)
    gql, sql = latency(EMAIL_OP, "graphql", at), latency(EMAIL_OP, "sql", at)
    size = f" on {customers:,} customers (issue: 1,000,000)"
    if gql is not None:
        out.append((f"{EMAIL_OP} p99 @{at}", "< 50 ms" + size, f"{gql.p99_ms:.1f} ms", gql.p99_ms < 50))
        if sql is not None and sql.p99_ms:
            out.append(
                (
                    f"{EMAIL_OP} GraphQL vs SQL p99 @{at}",
                    "<= 2x the direct SQL",
                    f"{gql.p99_ms / sql.p99_ms:.1f}x ({gql.p99_ms:.1f} vs {sql.p99_ms:.1f} ms)",
                    gql.p99_ms <= 2 * sql.p99_ms,
                )
            )
    for op in ("consumer(id) + 3 connections", "orders(consumer_Id)"):
        x = latency(op, "graphql", at)
        if x is not None:
            out.append((f"{op} p99 @{at}", "< 20 ms" + size, f"{x.p99_ms:.1f} ms", x.p99_ms < 20))
    return out


def format_api(api: list[Latency], store: dict[str, int], workers: int) -> list[str]:
    """The latency table, one line per operation, path and level."""
    held = ", ".join(f"{v:,} {k}" for k, v in store.items())
    lines = [
        f"API on {held}; customer-sync serve (uvicorn), {workers} worker process(es) "
        f"(--workers {workers}); SQL = the same statements through psycopg2",
        "cpu ms = the server's CPU time per request (all its processes, /proc, over the level); "
        "wait ms = the time its threads waited for a core, per request (schedstat)",
        f"{'operation':<34} {'path':<8} {'clients':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'p99 ms':>7} {'cpu ms':>6} {'wait ms':>7} {'errors':>6}",
    ]
    for x in api:
        cpu = "-" if x.server_cpu_ms is None else f"{x.server_cpu_ms:.2f}"
        wait = "-" if x.server_wait_ms is None else f"{x.server_wait_ms:.2f}"
        lines.append(
            f"{x.operation:<34} {x.path:<8} {x.clients:>7} {x.requests:>8} {x.per_s:>7.0f} {x.p50_ms:>7.1f} "
            f"{x.p95_ms:>7.1f} {x.p99_ms:>7.1f} {cpu:>6} {wait:>7} {x.errors:>6}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.api`: the API section alone, on a generated store kept between runs."""
    import argparse
    import platform
    from dataclasses import asdict

    from bench.api_store import api_store, drop_store

    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description="Load the GraphQL API with 1/10/50 clients beside the same SQL through psycopg2, on a "
        "store of generated customers and orders (built set-wise once, reused while its fingerprint holds).",
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers (default 1000000)")
    parser.add_argument("--orders-per-customer", type=int, default=5, help="orders per customer (default 5)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="seconds per operation and level (default 3)"
    )
    parser.add_argument("--levels", default="1,10,50", help="concurrent clients (default 1,10,50)")
    parser.add_argument("--workers", type=int, default=1, help="`customer-sync serve --workers` (default 1)")
    parser.add_argument(
        "--throwaway", action="store_true", help="build a store for this run only and drop it"
    )
    parser.add_argument(
        "--uniform-emails",
        action="store_true",
        help="every address person<i>@example.com (the e-mail search's worst case; a store of its own)",
    )
    parser.add_argument("--drop", action="store_true", help="drop the kept store of this size and exit")
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="lean",
        help="how the GraphQL load is sent: a lean keep-alive HTTP/1.1 client (default) or httpx, "
        "as before 2026-12-01 (its own CPU per request was as much as the server's)",
    )
    args = parser.parse_args(argv)
    levels = tuple(int(x) for x in args.levels.split(",") if x.strip())
    if min(args.customers, args.orders_per_customer, args.workers, *levels) < 1 or args.seconds <= 0:
        parser.error("--customers, --orders-per-customer, --workers, --levels and --seconds must be positive")

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.drop:
        from bench.api_store import database_name

        drop_store(
            args.pg_admin_url,
            database_name(args.customers, args.orders_per_customer, uniform_emails=args.uniform_emails),
        )
        return 0
    load_start = [round(x, 2) for x in os.getloadavg()]
    store = api_store(
        args.pg_admin_url,
        args.customers,
        args.orders_per_customer,
        keep=not args.throwaway,
        progress=say,
        uniform_emails=args.uniform_emails,
    )
    try:
        api = run_api_benchmark(store.url, args.seconds, levels, say, args.workers, args.client)
    finally:
        if args.throwaway:
            drop_store(args.pg_admin_url, store.database)
    load_end = [round(x, 2) for x in os.getloadavg()]
    targets = api_targets(api, store.counts.get("customer", 0))
    if args.json:
        print(
            json.dumps(
                {
                    "store": {**asdict(store), "url": None},
                    "workers": args.workers,
                    "client": args.client,
                    "loadavg": [load_start, load_end],
                    "api": [{**asdict(x), "per_s": round(x.per_s, 1)} for x in api],
                    "targets": [
                        dict(zip(("name", "wanted", "measured", "met"), t, strict=True)) for t in targets
                    ],
                },
                indent=2,
            )
        )
        return 0
    how = "built" if store.built else "reused"
    lines = [
        f"customer-sync API benchmark: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"store {store.database} ({how} in {store.seconds:.0f} s); GraphQL load sent by the {args.client} client",
        f"load average {load_start} at start, {load_end} at end "
        "(other processes share this machine: treat single figures as +-20 %)",
        "",
        *format_api(api, store.counts, args.workers),
        "",
        "targets (issue 9):",
        *(
            f"  {'MET   ' if met else 'MISSED'} {name}: {measured} (target {wanted})"
            for name, wanted, measured, met in targets
        ),
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
