"""`sync.webhook.import`: drains one stream's webhook inbox; requests for it are coalesced in Redis."""

from __future__ import annotations

from functools import cache
from typing import Any

import redis
import structlog
from celery import Celery, shared_task

from sync.jobs.webhook import drain_inbox
from sync.settings import Settings, get_settings
from sync.tasks._base import RunTask

log = structlog.get_logger("sync.tasks.webhooks")

TASK_NAME = "sync.webhook.import"
# A lock or a trailing request outlives its task's start by this much at most, should the
# worker that took it die before it could clear it.
_SLACK_MS = 60_000

# Compare-and-delete: the drain lock is released only by the task that holds it.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def redis_url(settings: Settings) -> str | None:
    """The Redis that holds the coalescing keys: REDIS_URL, else a Redis broker."""
    if settings.redis_url:
        return settings.redis_url
    broker = settings.celery_broker_url or ""
    return broker if broker.startswith(("redis://", "rediss://", "unix://")) else None


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _key(settings: Settings, what: str, source: str, stream: str) -> str:
    return f"{settings.celery_key_prefix}webhook:{what}:{source}:{stream}"


def request_import(settings: Settings, app: Celery, source: str, stream: str) -> str | None:
    """Ask for `sync.webhook.import(source, stream)`, coalesced; the way it went, for the log.

    The first request in a quiet stream sends the task at once (a lone webhook is imported
    within milliseconds) and opens a window of WEBHOOK_DEBOUNCE_SECONDS. Requests inside the
    window send one more task, due when the window closes, and no more: a burst of any size
    gives two imports per window, and every record lands in one of them.
    """
    window_ms = int(settings.webhook_debounce_seconds * 1000)
    url = redis_url(settings)
    if url is None or window_ms == 0:
        app.send_task(TASK_NAME, args=[source, stream])
        return "sent"
    r = _client(url)
    if r.set(_key(settings, "window", source, stream), "1", nx=True, px=window_ms):
        app.send_task(TASK_NAME, args=[source, stream])
        return "leading"
    if r.set(_key(settings, "trailing", source, stream), "1", nx=True, px=window_ms + _SLACK_MS):
        left = r.pttl(_key(settings, "window", source, stream))
        countdown = max(left, 0) / 1000 if isinstance(left, int) else settings.webhook_debounce_seconds
        app.send_task(TASK_NAME, args=[source, stream], countdown=countdown)
        return "trailing"
    return None


@shared_task(name=TASK_NAME, base=RunTask, bind=True)
def import_webhooks(self: RunTask, source: str, stream: str) -> dict[str, Any]:
    """Import what the webhooks of (source, stream) left in the inbox; nothing twice.

    Safe to deliver again: each inbox row is claimed by its run in the batch's transaction,
    so a second delivery finds nothing left (or carries on a drain that died half-way).
    """
    settings = get_settings()
    url = redis_url(settings)
    lock = _key(settings, "drain", source, stream)
    token = str(self.request.id)
    r = _client(url) if url else None
    if r is not None:
        # Requests from here on schedule a new trailing import: this one may start reading
        # before their records are written.
        r.delete(_key(settings, "trailing", source, stream))
        # Held no longer than the task may run (its hard time limit), so a killed worker
        # cannot keep the stream locked.
        held_ms = settings.celery_task_time_limit_seconds * 1000 + _SLACK_MS
        if not r.set(lock, token, nx=True, px=held_ms):
            # Another drain of the stream runs; its snapshot may miss our records: go after it.
            raise self.retry(countdown=max(settings.webhook_debounce_seconds, 1.0), max_retries=None)
    try:
        result = drain_inbox(settings, source, stream, task_id=token)
    finally:
        if r is not None:
            r.eval(_RELEASE, 1, lock, token)
    if result.again:
        # The stream was held by another run, or the fetch paused: what is pending waits.
        raise self.retry(countdown=max(settings.webhook_debounce_seconds, 5.0))
    return result.as_dict()
