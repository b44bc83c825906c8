"""Running inbox drains: in this process when no broker is configured, at most one per stream."""

from __future__ import annotations

import threading
from typing import Protocol

import structlog

from sync.jobs.webhook import drain_inbox
from sync.settings import Settings

log = structlog.get_logger("api.webhooks")


class DrainRequester(Protocol):
    """Asks for the inbox of (source, stream) to be imported soon; returns at once."""

    def request(self, source: str, stream: str) -> None: ...


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

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no drain runs (tests, shutdown); False if one still runs after `timeout`."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._again, timeout)


class CeleryDrains:
    """Drains as `sync.webhook.import` tasks on the workers, requests coalesced in Redis."""

    def __init__(self, settings: Settings) -> None:
        # The worker's app and tasks load only when a broker is configured.
        from sync.celery import make_app

        self._settings = settings
        self._app = make_app(settings)

    def request(self, source: str, stream: str) -> None:
        from sync.tasks import request_import

        sent = request_import(self._settings, self._app, source, stream)
        log.debug("webhook.import_requested", source=source, stream=stream, sent=sent)
