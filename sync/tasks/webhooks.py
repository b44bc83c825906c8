"""`sync.webhook.import`: drains one stream's webhook inbox; requests for it are coalesced in Redis."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

import redis
import structlog
from celery import Celery, shared_task

from models import ensure_schema
from sync.jobs.webhook import drain_inbox, waiting_streams
from sync.settings import Settings, get_settings
from sync.tasks._base import RunTask

log = structlog.get_logger("sync.tasks.webhooks")

TASK_NAME = "sync.webhook.import"
SWEEP_TASK_NAME = "sync.webhook.sweep"
# Rows younger than this are still within their own request's reach (window and drain).
_SWEEP_AFTER = timedelta(minutes=1)
# A trailing request outlives its window by this much at most, should the worker that took
# its task die before it could clear it.
_SLACK_MS = 60_000


def redis_url(settings: Settings) -> str | None:
    """The Redis that holds the coalescing keys: REDIS_URL, else a Redis broker."""
    if settings.redis_url:
        return settings.redis_url
    broker = settings.celery_broker_url or ""
    return broker if broker.startswith(("redis://", "rediss://", "unix://")) else None


@cache
def _client(url: str) -> redis.Redis:
    # One per worker process, for its life; a sender that comes and goes passes its own.
    return redis.Redis.from_url(url)


def _key(settings: Settings, what: str, source: str, stream: str) -> str:
    return f"{settings.celery_key_prefix}webhook:{what}:{source}:{stream}"


def request_import(
    settings: Settings, app: Celery, source: str, stream: str, client: redis.Redis | None = None
) -> str | None:
    """Ask for `sync.webhook.import(source, stream)`, coalesced; the way it went, for the log.

    The first request in a quiet stream sends the task at once (a lone webhook is imported
    within milliseconds) and opens a window of WEBHOOK_DEBOUNCE_SECONDS. Requests inside the
    window send one more task, due when the window closes, and no more: a burst of any size
    gives two imports per window, and every record lands in one of them.
    """
    window_ms = int(settings.webhook_debounce_seconds * 1000)
    url = redis_url(settings)
    # Nobody waits for the result (the run record is the outcome): sending without one keeps
    # the API's request threads from each opening a result subscription that nothing closes.
    send = {"ignore_result": True}
    if url is None or window_ms == 0:
        app.send_task(TASK_NAME, args=[source, stream], **send)
        return "sent"
    r = client or _client(url)
    if r.set(_key(settings, "window", source, stream), "1", nx=True, px=window_ms):
        app.send_task(TASK_NAME, args=[source, stream], **send)
        return "leading"
    if r.set(_key(settings, "trailing", source, stream), "1", nx=True, px=window_ms + _SLACK_MS):
        left = r.pttl(_key(settings, "window", source, stream))
        countdown = max(left, 0) / 1000 if isinstance(left, int) else settings.webhook_debounce_seconds
        app.send_task(TASK_NAME, args=[source, stream], countdown=countdown, **send)
        return "trailing"
    return None


@shared_task(name=TASK_NAME, base=RunTask, bind=True)
def import_webhooks(self: RunTask, source: str, stream: str) -> dict[str, Any]:
    """Import what the webhooks of (source, stream) left in the inbox; nothing twice.

    Safe to deliver again: each inbox row is claimed by its run in the batch's transaction,
    so a second delivery finds nothing left (or carries on a drain that died half-way).
    One drain per stream at a time is the run's stream lease (renewed while it runs, lost
    `RUN_LEASE_SECONDS` after a worker dies), not a lock of its own that could outlive it.
    """
    settings = get_settings()
    url = redis_url(settings)
    if url is not None:
        r = _client(url)
        if self.request.eta:
            # A trailing import keeps the window open for one more, set before the trailing
            # key is cleared so no leading import can start beside it: while a burst goes on,
            # it is imported once per window.
            r.set(
                _key(settings, "window", source, stream),
                "1",
                px=int(settings.webhook_debounce_seconds * 1000),
            )
        # Requests from here on schedule a new trailing import: this one may start reading
        # before their records are written.
        r.delete(_key(settings, "trailing", source, stream))
    result = drain_inbox(settings, source, stream, task_id=str(self.request.id))
    if result.again:
        # The stream was held by another drain (or a dead one's lease has yet to run out), or
        # the fetch paused: soon again, and often enough to outlast a dead owner's lease.
        countdown = max(settings.webhook_debounce_seconds, 1.0)
        raise self.retry(countdown=countdown, max_retries=int(settings.run_lease_seconds / countdown) + 3)
    return result.as_dict()


@shared_task(name=SWEEP_TASK_NAME, base=RunTask, bind=True)
def sweep_webhooks(self: RunTask) -> dict[str, Any]:
    """Ask again for the import of inbox rows left waiting.

    A request can be lost (the broker was down after the rows were stored, a task gave up
    its retries): beat runs this every few minutes, so no stored record waits for the next
    webhook of its stream.
    """
    settings = get_settings()
    streams = waiting_streams(ensure_schema(settings.database_url), _SWEEP_AFTER)
    for source, stream in streams:
        request_import(settings, self.app, source, stream)
    return {"requested": [f"{source}/{stream}" for source, stream in streams]}
