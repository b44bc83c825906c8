"""Running inbox drains: in this process when no broker is configured, at most one per stream."""

from __future__ import annotations

import threading
from typing import Protocol

import redis
import structlog

from sync.jobs.webhook import drain_inbox
from sync.settings import Settings

log = structlog.get_logger("api.webhooks")


class DrainRequester(Protocol):
    """Asks for the inbox of (source, stream) to be imported soon; returns at once."""

    def request(self, source: str, stream: str) -> None: ...

    def close(self) -> None:
        """Let go of connections (the app shuts down)."""


class InProcessDrains:
    """Drains in background threads of the API process: the default without a broker.

    Requests for a stream already draining coalesce into one more pass after it, so a burst
    gives two runs, and every record that arrived during the first is in the second.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._again: dict[tuple[str, str], bool] = {}
        self._idle = threading.Condition(self._lock)

    def request(self, source: str, stream: str) -> None:
        key = (source, stream)
        with self._lock:
            if key in self._again:
                self._again[key] = True
                return
            self._again[key] = False
        threading.Thread(
            target=self._drain, args=(key,), name=f"drain-{source}-{stream}", daemon=True
        ).start()

    def _drain(self, key: tuple[str, str]) -> None:
        while True:
            try:
                drain_inbox(self._settings, *key)
            except Exception as exc:
                # The records stay pending; the next webhook for the stream drains them again.
                log.error("webhook.drain_failed", source=key[0], stream=key[1], error=type(exc).__name__)
            with self._lock:
                if self._again[key]:
                    self._again[key] = False
                    continue
                del self._again[key]
                self._idle.notify_all()
                return

    def close(self) -> None:
        # A drain under way finishes or is cut off with the process; batches are atomic.
        self.wait_idle(5)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no drain runs (tests, shutdown); False if one still runs after `timeout`."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._again, timeout)


class CeleryDrains:
    """Drains as `sync.webhook.import` tasks on the workers, requests coalesced in Redis."""

    def __init__(self, settings: Settings) -> None:
        # The worker's app and tasks load only when a broker is configured.
        from sync.celery import make_app
        from sync.tasks.webhooks import redis_url

        self._settings = settings
        self._app = make_app(settings)
        url = redis_url(settings)
        self._redis = redis.Redis.from_url(url) if url else None

    def request(self, source: str, stream: str) -> None:
        from sync.tasks import request_import

        sent = request_import(self._settings, self._app, source, stream, self._redis)
        log.debug("webhook.import_requested", source=source, stream=stream, sent=sent)

    def close(self) -> None:
        from sync.celery import close_app

        close_app(self._app)
        if self._redis is not None:
            self._redis.close()
