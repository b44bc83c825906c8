"""A fake Spotify on local HTTP: accounts service and Web API in the real wire format, with faults.

The real spotipy client talks to it once `SpotifySettings.accounts_url`/`api_url` point at
``fake.url`` (``fake.settings()`` gives such settings with the fake's app credentials).

* Accounts service: ``GET /authorize`` consents (as ``fake.consent_as``, or refuses with
  ``error=access_denied`` when ``fake.deny_consent``) and redirects to the redirect URI with a
  code and the state; ``POST /api/token`` takes the ``authorization_code`` and ``refresh_token``
  grants with the client in a Basic header or the body. Refresh answers carry no new refresh
  token (as ``token_refresh.json`` shows) unless ``rotate_refresh_tokens``. Errors are the
  fixtures' ``invalid_grant`` ("Refresh token revoked") and ``invalid_client`` bodies.
* Web API: ``GET /v1/me`` and ``/v1/me/`` with a Bearer token; the profile is filtered by the
  granted scopes (no ``user-read-email``: no e-mail; no ``user-read-private``: no country,
  product or explicit_content), as the OpenAPI description says. Profiles with and without
  ``account_id`` and e-mail come from the fixtures (``add_user(template=...)``).
* Faults (``fail_next``): ``rate_limited`` (429 + Retry-After), ``expired_token`` (401),
  ``server_error`` (5xx), ``invalid_grant``, ``invalid_client``, ``reset`` (hang up).

Approximations: the 401 "No token provided"/"Invalid access token" and 5xx bodies follow the
ErrorObject layout with messages written here; ``/authorize`` errors are short HTML pages.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from connectors.spotify import SpotifySettings
from tests.shared import shared_dir

FaultKind = Literal[
    "rate_limited", "expired_token", "server_error", "invalid_grant", "invalid_client", "reset"
]
PROFILE_TEMPLATES = {
    "full": "synthetic/me_2026_with_account_id_full.json",
    "legacy": "me_current_user_profile.json",  # no account_id: keyed by `id`
    "devmode": "synthetic/me_2026_devmode_minimal.json",  # no e-mail, country or product
}
_PRIVATE_FIELDS = ("country", "product", "explicit_content")


def fixtures_dir() -> Path:
    """../shared/fixtures/spotify beside the checkout (see tests/shared.py); fails loudly when missing."""
    path = shared_dir() / "fixtures" / "spotify"
    if not path.is_dir():
        raise RuntimeError(f"{path} is missing: the fake reads the real wire formats from it")
    return path


def fixture(name: str) -> Any:
    return json.loads((fixtures_dir() / name).read_text())


@dataclass
class FakeUser:
    """A Spotify account: its full profile; what a caller sees depends on the granted scopes."""

    profile: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.profile.get("account_id") or self.profile["id"])


@dataclass
class _Grant:
    user: FakeUser
    scope: str
    expires_at: float = 0.0
    redirect_uri: str = ""
    revoked: bool = False


@dataclass
class FaultRule:
    """Answer matching requests with a fault, ``times`` times (None: until cleared)."""

    match: str | Callable[[RecordedRequest], bool] | None
    kind: FaultKind
    times: int | None = 1
    retry_after: int = 1
    status: int = 500

    def matches(self, request: RecordedRequest) -> bool:
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in request.path
        return self.match(request)


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    fault: str | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(payload).encode(), headers=headers or {})


def _api_error(status: int, message: str) -> _Response:
    return _json(status, {"error": {"status": status, "message": message}})


def _html(status: int, text: str) -> _Response:
    return _Response(
        status, f"<html><body><h1>{text}</h1></body></html>".encode(), "text/html; charset=utf-8"
    )


class FakeSpotify:
    """The fake service behind a ThreadingHTTPServer on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        *,
        client_id: str = "fake-spotify-client-id",
        client_secret: str = "fake-spotify-client-secret-0123456789",
        token_ttl: int = 3600,
        rotate_refresh_tokens: bool = False,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.users: dict[str, FakeUser] = {}
        self.consent_as: FakeUser | None = None
        self.deny_consent = False
        self.request_log: list[RecordedRequest] = []
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._rules: list[FaultRule] = []
        self._numbers = itertools.count(1)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> FakeSpotify:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-spotify",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSpotify:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def settings(
        self, redirect_uri: str = "http://127.0.0.1:9/callback/spotify", **overrides: Any
    ) -> SpotifySettings:
        """Settings that point spotipy at this fake, with its app credentials."""
        values: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": redirect_uri,
            "api_url": self.url,
            "accounts_url": self.url,
            "retry_initial_wait_seconds": 0.01,
            "retry_max_wait_seconds": 0.05,
        }
        return SpotifySettings(**{**values, **overrides})

    # accounts
    def add_user(self, template: str = "full", **overrides: Any) -> FakeUser:
        """A new account from a fixture profile, with its own ids and e-mail unless given."""
        n = next(self._numbers)
        profile = copy.deepcopy(fixture(PROFILE_TEMPLATES[template]))
        profile["id"] = f"listener{n:05d}"
        profile["uri"] = f"spotify:user:{profile['id']}"
        profile["href"] = f"https://api.spotify.com/v1/users/{profile['id']}"
        profile["external_urls"] = {"spotify": f"https://open.spotify.com/user/{profile['id']}"}
        if "account_id" in profile:
            profile["account_id"] = f"acc{n:07d}"
        if "email" in profile:
            profile["email"] = f"listener{n}@example.com"
        profile.update(overrides)
        user = FakeUser(profile)
        with self._lock:
            self.users[user.key] = user
        return user

    def issue_tokens(
        self, user: FakeUser, scope: str = "user-read-email user-read-private", expires_in: int | None = None
    ) -> dict[str, Any]:
        """Tokens as if the user had linked already (for seeding many links)."""
        with self._lock:
            return self._token_answer(_Grant(user, scope), with_refresh=True, expires_in=expires_in)

    def issue_code(
        self, user: FakeUser, redirect_uri: str, scope: str = "user-read-email user-read-private"
    ) -> str:
        """An authorization code as if `user` had just consented (what /authorize hands out)."""
        code = "AQ" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Grant(user, scope, redirect_uri=redirect_uri)
        return code

    def revoke(self, user: FakeUser) -> None:
        """The user removed the app: its refresh and access tokens stop working."""
        with self._lock:
            for grant in [*self._refresh.values(), *self._access.values()]:
                if grant.user is user:
                    grant.revoked = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._access.values():
                grant.expires_at = 0.0

    def fail_next(
        self,
        match: str | Callable[[RecordedRequest], bool] | None = None,
        kind: FaultKind = "server_error",
        times: int | None = 1,
        *,
        retry_after: int = 1,
        status: int = 500,
    ) -> FaultRule:
        rule = FaultRule(match, kind, times, retry_after, status)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def requests_to(self, path_part: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.request_log if path_part in r.path]

    # wire
    def _token_answer(
        self, grant: _Grant, *, with_refresh: bool, expires_in: int | None = None
    ) -> dict[str, Any]:
        ttl = self.token_ttl if expires_in is None else expires_in
        access = "BQ" + secrets.token_urlsafe(48)
        self._access[access] = _Grant(grant.user, grant.scope, time.time() + ttl)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "scope": grant.scope,
            "expires_in": ttl,
        }
        if with_refresh:
            refresh = "AQ" + secrets.token_urlsafe(64)
            self._refresh[refresh] = _Grant(grant.user, grant.scope)
            answer["refresh_token"] = refresh
        return answer

    def _pick_fault(self, request: RecordedRequest) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(request):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def _fault_response(self, rule: FaultRule, request: RecordedRequest) -> _Response:
        api = request.path.startswith("/v1/")
        if rule.kind == "rate_limited":
            body = fixture("synthetic/error_429_rate_limited.json")
            return _json(429, body, {"Retry-After": str(rule.retry_after)})
        if rule.kind == "expired_token":
            return _json(401, fixture("synthetic/error_401_token_expired.json"))
        if rule.kind == "invalid_grant":
            return _json(400, fixture("token_error_refresh_revoked.json"))
        if rule.kind == "invalid_client":
            return _json(400, fixture("token_error_invalid_client.json"))
        if api:
            return _api_error(rule.status, "Service unavailable" if rule.status == 503 else "Server error.")
        return _html(rule.status, "Server error")

    def _dispatch(self, request: RecordedRequest) -> _Response:
        path = request.path
        if path == "/authorize" and request.method == "GET":
            return self._authorize(request)
        if path == "/api/token" and request.method == "POST":
            return self._token(request)
        if path in ("/v1/me", "/v1/me/") and request.method == "GET":
            return self._me(request)
        return _api_error(404, "Service not found")

    def _authorize(self, request: RecordedRequest) -> _Response:
        q = {k: v[0] for k, v in request.query.items()}
        if q.get("client_id") != self.client_id:
            return _html(400, "INVALID_CLIENT: Invalid client")
        redirect_uri = q.get("redirect_uri")
        if not redirect_uri:
            return _html(400, "INVALID_CLIENT: Invalid redirect URI")
        if q.get("response_type") != "code":
            return _html(400, "unsupported_response_type")
        params: dict[str, str] = {}
        with self._lock:
            user = self.consent_as or next(iter(self.users.values()), None)
            if self.deny_consent or user is None:
                params["error"] = "access_denied"
            else:
                code = "AQ" + secrets.token_urlsafe(32)
                self._codes[code] = _Grant(user, q.get("scope", ""), redirect_uri=redirect_uri)
                params["code"] = code
        if "state" in q:
            params["state"] = q["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return _Response(
            302, b"", "text/plain", {"Location": f"{redirect_uri}{separator}{urlencode(params)}"}
        )

    def _client_ok(self, request: RecordedRequest, form: dict[str, str]) -> bool:
        basic = request.header("Authorization") or ""
        if basic.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                return False
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return secrets.compare_digest(client_id, self.client_id) and secrets.compare_digest(
            secret, self.client_secret
        )

    def _token(self, request: RecordedRequest) -> _Response:
        form = request.form()
        if not self._client_ok(request, form):
            return _json(400, fixture("token_error_invalid_client.json"))
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                grant = self._codes.pop(form.get("code", ""), None)
                if grant is None or grant.redirect_uri != form.get("redirect_uri"):
                    return _json(
                        400, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
                    )
                return _json(200, self._token_answer(grant, with_refresh=True))
            if grant_type == "refresh_token":
                grant = self._refresh.get(form.get("refresh_token", ""))
                if grant is None or grant.revoked:
                    return _json(400, fixture("token_error_refresh_revoked.json"))
                if self.rotate_refresh_tokens:
                    del self._refresh[form["refresh_token"]]
                return _json(200, self._token_answer(grant, with_refresh=self.rotate_refresh_tokens))
        return _json(
            400, {"error": "unsupported_grant_type", "error_description": "grant_type parameter is missing"}
        )

    def _me(self, request: RecordedRequest) -> _Response:
        auth = request.header("Authorization") or ""
        if not auth.startswith("Bearer "):
            return _api_error(401, "No token provided")
        with self._lock:
            grant = self._access.get(auth[7:])
            if grant is None or grant.revoked:
                return _api_error(401, "Invalid access token")
            if grant.expires_at <= time.time():
                return _json(401, fixture("synthetic/error_401_token_expired.json"))
            profile = copy.deepcopy(grant.user.profile)
        scopes = set(grant.scope.split())
        if "user-read-email" not in scopes:
            profile.pop("email", None)
        if "user-read-private" not in scopes:
            for name in _PRIVATE_FIELDS:
                profile.pop(name, None)
        return _json(200, profile)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSpotify) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are the point of the `reset` fault

    def close_connections(self) -> None:
        # Wake handler threads parked on idle keep-alive connections.
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 15
    # Headers and body leave in separate writes; without this, Nagle and delayed ACKs add
    # ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.request)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.request)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = RecordedRequest(
            self.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            dict(self.headers.items()),
            body,
        )
        rule = fake._pick_fault(request)
        request.fault = rule.kind if rule else None
        with fake._lock:
            fake.request_log.append(request)
        if rule is not None and rule.kind == "reset":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        response = fake._fault_response(rule, request) if rule is not None else fake._dispatch(request)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)


@pytest.fixture
def fake_spotify() -> Iterator[FakeSpotify]:
    """A running fake Spotify for one test."""
    with FakeSpotify() as fake:
        yield fake
