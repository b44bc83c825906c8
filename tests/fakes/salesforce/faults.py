"""Request log, fault rules and a transport that resets or truncates on purpose, for any HTTPS fake."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Literal

FaultKind = Literal[
    "expired_session", "request_limit", "server_error", "rate_limited", "slow", "truncated", "reset"
]
TRANSIENT_FAULTS: tuple[FaultKind, ...] = ("server_error", "rate_limited", "reset", "truncated")


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    fault: str | None = None
    # When it arrived (time.monotonic), to tell how long a client waited before trying again.
    at: float = field(default_factory=time.monotonic)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class FaultRule:
    """Answer matching requests with a fault, ``times`` times (None: until cleared)."""

    match: str | Callable[[RecordedRequest], bool] | None
    kind: FaultKind
    times: int | None = 1
    status: int | None = None
    delay: float = 2.0
    retry_after: int = 1
    # The error answer's message, for faults that quote something (e.g. a session id).
    message: str | None = None

    def matches(self, request: RecordedRequest) -> bool:
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in request.path
        return self.match(request)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


class FaultInjection:
    """The fault controls of a fake: queued and random faults, and the log of requests."""

    request_log: list[RecordedRequest]
    _lock: threading.RLock
    _rules: list[FaultRule]
    _chaos: tuple[random.Random, float, tuple[FaultKind, ...], str] | None

    # faults
    def fail_next(
        self,
        match: str | Callable[[RecordedRequest], bool] | None = None,
        kind: FaultKind = "server_error",
        times: int | None = 1,
        *,
        status: int | None = None,
        delay: float = 2.0,
        retry_after: int = 1,
        message: str | None = None,
    ) -> FaultRule:
        """Queue a fault for requests whose path contains ``match`` (or that it accepts)."""
        rule = FaultRule(match, kind, times, status, delay, retry_after, message)
        with self._lock:
            self._rules.append(rule)
        return rule

    def chaos(
        self,
        probability: float,
        *,
        seed: int = 0,
        kinds: tuple[FaultKind, ...] = TRANSIENT_FAULTS,
        path_prefix: str = "/services/data/",
    ) -> None:
        """Fail each request under ``path_prefix`` with ``probability``, seeded."""
        with self._lock:
            self._chaos = (random.Random(seed), probability, kinds, path_prefix)

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()
            self._chaos = None

    def requests_to(self, path_part: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.request_log if path_part in r.path]

    def clear_request_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    def _pick_fault(self, request: RecordedRequest) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(request):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
            if self._chaos is not None:
                rng, probability, kinds, prefix = self._chaos
                if request.path.startswith(prefix) and rng.random() < probability:
                    return FaultRule(None, rng.choice(kinds))
        return None


class FaultInjectingHandler(BaseHTTPRequestHandler):
    """Writes a fake's answers, whole or cut short, or hangs up without one."""

    def _send(self, response: _Response, *, truncate: bool = False) -> None:
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
            # A truncated answer promises more bytes than it sends, then hangs up.
            extra = 64 if truncate else 0
            self.send_header("Content-Length", str(len(response.body) + extra))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.wfile.write(response.body[: len(response.body) // 2])
            # An orderly close: the client reads the partial body, then hits end of stream.
            self._drop(reset=False)
            return
        self.wfile.write(response.body)

    def _drop(self, *, reset: bool) -> None:
        """Hang up without another byte: with a TCP reset, or an unannounced FIN."""
        self.close_connection = True
        try:
            if reset:
                linger = struct.pack("ii", 1, 0)
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            else:
                self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.request.close()
