"""The HTTPS server: FakeSalesforce's lifecycle, client helpers, request dispatch and the pytest fixture."""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from ..tls import TlsBundle, shared_tls_bundle
from .auth import FakeCredentials
from .bulk import _BulkJob
from .faults import FaultInjectingHandler, FaultInjection, FaultKind, FaultRule, RecordedRequest, _Response
from .org import FakeOrg
from .rest import RestApi, _Cursor
from .wire import _error


class FakeHostAdapter(HTTPAdapter):
    """Sends a mounted host's requests to the fake, verifying TLS against the fake's CA.

    Pinning ``verify`` here matters: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override
    ``Session.verify``, so a session-level CA path alone loses to the environment.
    """

    def __init__(self, target_url: str, ca_path: str) -> None:
        super().__init__()
        self._target = urlsplit(target_url)
        self._ca_path = ca_path

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = urlunsplit(
            (self._target.scheme, self._target.netloc, parts.path, parts.query, parts.fragment)
        )
        return super().send(request, stream, timeout, self._ca_path, cert, proxies)


class FakeSalesforce(RestApi, FaultInjection):
    """The fake org behind an HTTPS server on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        *,
        version: str = "59.0",
        org: FakeOrg | None = None,
        credentials: FakeCredentials | None = None,
        tls: TlsBundle | None = None,
        query_batch_size: int = 2000,
        bulk_polls_to_complete: int = 1,
        my_domain: str = "fake-org.my",
    ) -> None:
        self.version = version
        self.org = org or FakeOrg()
        self.credentials = credentials or FakeCredentials()
        self.tls = tls or shared_tls_bundle()
        # REST query page size (Salesforce: 2,000; Sforce-Query-Options may lower it).
        self.query_batch_size = query_batch_size
        # GET jobs/query/{id} polls before a Bulk 2.0 job reports JobComplete.
        self.bulk_polls_to_complete = bulk_polls_to_complete
        self.bulk_default_max_records = 50_000
        self.my_domain = my_domain
        self.api_used = 0
        self.api_limit = 15_000
        self.enforce_api_limit = True
        # Seconds an issued token lives; None: until expire_sessions().
        self.session_ttl: float | None = None
        self.request_log: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._sessions: dict[str, float | None] = {}
        self._cursors: dict[str, _Cursor] = {}
        self._jobs: dict[str, _BulkJob] = {}
        self._job_failures: list[str] = []
        self._rules: list[FaultRule] = []
        self._chaos: tuple[random.Random, float, tuple[FaultKind, ...], str] | None = None
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._connections: set[ssl.SSLSocket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ssl_context = self.tls.server_context()

    # lifecycle
    def start(self) -> FakeSalesforce:
        self._stopping.clear()
        self._server = _Server(self)
        # A short poll interval keeps stop() fast; tests start and stop many fakes.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-salesforce",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Wake handler threads parked on idle keep-alive connections.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSalesforce:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake is not running")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def ca_path(self) -> str:
        return str(self.tls.ca_path)

    # client side helpers
    def mount(self, http: requests.Session) -> requests.Session:
        """Route the login hosts and the fake's own URL through ``FakeHostAdapter``."""
        for prefix in [f"https://{host}/" for host in self.login_hosts] + [f"{self.url}/"]:
            http.mount(prefix, FakeHostAdapter(self.url, self.ca_path))
        return http

    def session(self) -> requests.Session:
        """A requests session that reaches the fake (for every host) trusting only its CA."""
        http = requests.Session()
        # No proxies or CA bundles from the environment for a loopback fake.
        http.trust_env = False
        http.verify = self.ca_path
        return self.mount(http)

    def _fault_response(self, rule: FaultRule) -> _Response:
        if rule.kind == "expired_session":
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if rule.kind == "request_limit":
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if rule.kind == "rate_limited":
            response = _error(429, "TOO_MANY_REQUESTS", f"Too many requests; retry after {rule.retry_after}s")
            response.headers["Retry-After"] = str(rule.retry_after)
            return response
        status = rule.status or 500
        if status == 503:
            return _error(503, "SERVER_UNAVAILABLE", "Service temporarily unavailable")
        return _error(
            status,
            "UNKNOWN_EXCEPTION",
            rule.message
            or "An unexpected error occurred. Please include this ErrorId if you contact "
            "support: 1234567890-12345 (-1234567890)",
        )

    # dispatch: one request in, one response out (faults are applied by the handler)
    def _dispatch(self, request: RecordedRequest) -> _Response:
        path = request.path
        if path.startswith("/services/Soap/u/") and request.method == "POST":
            return self._soap_login(request)
        if path.rstrip("/") == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        if path.startswith("/services/data"):
            response = self._rest(request)
            response.headers["Sforce-Limit-Info"] = self.limit_info
            return response
        return _Response(404, b"Not Found", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSalesforce) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Dropped connections are the point of several faults; keep test output clean.
        pass


class _Handler(FaultInjectingHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Idle keep-alive connections give their thread back after this many seconds.
    timeout = 15

    def setup(self) -> None:
        # TLS is set up here, in the connection's own thread, so a slow or failing
        # handshake never stalls the accept loop.
        raw = self.request
        raw.settimeout(self.timeout)
        tls = self.server.fake._ssl_context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        self.request = tls
        try:
            tls.do_handshake()
        except (OSError, ssl.SSLError):
            tls.close()
            raise
        with self.server.fake._lock:
            self.server.fake._connections.add(tls)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.fake._lock:
                self.server.fake._connections.discard(self.request)
            self.request.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=body,
        )
        rule = fake._pick_fault(request)
        request.fault = rule.kind if rule else None
        with fake._lock:
            fake.request_log.append(request)
        if rule is not None and rule.kind == "slow":
            if fake._stopping.wait(rule.delay):
                self._drop(reset=True)
                return
            rule = None
        if rule is not None and rule.kind == "reset":
            self._drop(reset=True)
            return
        if rule is not None and rule.kind != "truncated":
            response = fake._fault_response(rule)
            if request.path.startswith("/services/data"):
                with fake._lock:
                    fake.api_used += 1
                response.headers["Sforce-Limit-Info"] = fake.limit_info
        else:
            response = fake._dispatch(request)
        self._send(response, truncate=rule is not None and rule.kind == "truncated")


@pytest.fixture
def fake_salesforce() -> Iterator[FakeSalesforce]:
    """A running fake org for one test."""
    with FakeSalesforce() as fake:
        yield fake
