"""The Celery app `app` (`celery -A sync worker|beat|flower`), configured from the typed settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from celery import Celery
from pydantic import ValidationError
from pydantic_settings import SettingsError

from sync.log import configure_logging
from sync.settings import Settings, describe_settings_error, get_settings

__all__ = ["TASK_MODULES", "app", "broker_url", "celery_config", "close_app", "make_app"]

# The task package; its __init__ imports every task module, so they are all registered.
TASK_MODULES: tuple[str, ...] = ("sync.tasks",)


def broker_url(settings: Settings) -> str | None:
    """Where tasks are sent: CELERY_BROKER_URL, else REDIS_URL; None runs everything in-process."""
    return settings.celery_broker_url or settings.redis_url


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings that follow from ours (lower-case Celery 5 names)."""
    broker = broker_url(settings)
    if not broker:
        raise ValueError("no broker: set CELERY_BROKER_URL (or REDIS_URL) to run the worker")
    visibility = settings.celery_visibility_timeout_seconds
    # Redis redelivers a message nobody acknowledged after `visibility_timeout`, even while
    # its task still runs; with acks_late that is the crash recovery, so every hard time
    # limit, countdown and retry back-off is kept below it (Settings checks), or a slow task
    # would run twice at once. Results and locks must use the same figure.
    # kombu sweeps for such messages every interval x throttle seconds (10 x 10 by default);
    # sweeping every interval, at most every 10 s, brings a dead worker's task back soon
    # after the timeout rather than minutes later.
    transport: dict[str, Any] = {
        "visibility_timeout": visibility,
        "unacked_restore_interval": max(1, min(10, visibility // 10)),
        "unacked_restore_throttle": 1,
    }
    if settings.celery_key_prefix:
        transport["global_keyprefix"] = settings.celery_key_prefix
    return {
        "broker_url": broker,
        "result_backend": settings.celery_result_backend or broker,
        "broker_transport_options": transport,
        "result_backend_transport_options": dict(transport),
        "broker_connection_retry_on_startup": True,
        # JSON only: task arguments are ids, paths and cursors that an operator can read in
        # Flower and send back unchanged; pickle would run whatever a message carries.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # A task is acknowledged when it ends, so a worker that dies mid-task leaves it to be
        # redelivered; tasks are idempotent (they resume from the run's checkpoint) first.
        "task_acks_late": True,
        # A killed pool child would otherwise be acknowledged as failed; a redelivery resumes
        # from the checkpoint, and each task gives up after `celery_max_deliveries` tries.
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.celery_task_time_limit_seconds,
        "task_soft_time_limit": settings.celery_task_soft_time_limit_seconds,
        "task_default_queue": settings.celery_queue,
        "task_default_exchange": settings.celery_queue,
        "task_default_routing_key": settings.celery_queue,
        # Flower lists a task with its arguments from the moment it is sent.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "result_extended": True,
        "result_expires": settings.celery_result_expires_seconds,
        "enable_utc": True,
        "timezone": "UTC",
        # Our structlog lines go to stderr as they are, not through Celery's stdout capture.
        "worker_redirect_stdouts": False,
        # redbeat: beat's schedule and its leader lock live in the same Redis, under our prefix,
        # so a second `celery beat` waits as a standby instead of dispatching twice.
        "redbeat_redis_url": settings.celery_beat_redis_url or broker,
        "redbeat_redis_options": {},
        "redbeat_key_prefix": f"{settings.celery_key_prefix}redbeat",
        "redbeat_lock_timeout": settings.celery_beat_lock_timeout_seconds,
        "beat_max_loop_interval": settings.celery_beat_max_loop_seconds,
    }


def make_app(settings: Settings) -> Celery:
    """A Celery app for these settings; the tasks are shared, so any app can run them."""
    celery = Celery("sync", include=list(TASK_MODULES))
    celery.conf.update(celery_config(settings))
    return celery


def close_app(celery: Celery) -> None:
    """Close a sending app's connections, the result subscription included.

    Sending a task subscribes to its result channel (the Redis backend's pub/sub), which
    `Celery.close` leaves open; a short-lived sender (the CLI, a test) closes it here.
    """
    backend = celery.backend
    consumer = getattr(backend, "result_consumer", None)
    if consumer is not None:
        consumer.stop()
    client = getattr(backend, "client", None)
    if client is not None:
        client.close()
        client.connection_pool.disconnect()
    celery.close()


def _under_celery_command() -> bool:
    return Path(sys.argv[0]).name == "celery"


def _guard_flower(settings: Settings) -> None:
    """Refuse to start Flower without basic auth: it can re-run any task, so never open."""
    argv = sys.argv[1:]
    if "flower" not in argv:
        return
    given = any(a.startswith(("--basic-auth", "--basic_auth", "--auth")) for a in argv)
    if settings.flower_basic_auth is not None:
        # Flower reads its own FLOWER_* variables; ours may have come from `.env`.
        os.environ.setdefault("FLOWER_BASIC_AUTH", settings.flower_basic_auth.get_secret_value())
        given = True
    if not given and not os.environ.get("FLOWER_AUTH"):
        sys.stderr.write("error: Flower needs FLOWER_BASIC_AUTH=user:password; it never runs open\n")
        raise SystemExit(2)
    _close_flower_monitor()


def _close_flower_monitor() -> None:
    """Make /metrics and /healthcheck ask for Flower's login like every other page.

    Flower 2.x serves both to anyone, whatever auth is set (its handlers lack the
    `authenticated` check the others have; flower#1342): the metrics name every task and
    worker and count their runs. Tornado's `authenticated` runs Flower's own basic-auth
    check, which answers 401 without the right login. A Prometheus scrape or a health probe
    sends the same `user:password`.
    """
    import tornado.web
    from flower.views import monitor

    for handler in (monitor.Metrics, monitor.Healthcheck):
        if not hasattr(handler.get, "__wrapped__"):
            handler.get = tornado.web.authenticated(handler.get)


def _app() -> Celery:
    try:
        settings = get_settings()
    except (ValidationError, SettingsError) as exc:
        if _under_celery_command():
            sys.stderr.write(f"error: {describe_settings_error(exc)}\n")
            raise SystemExit(2) from None
        # Imported by the CLI or the API at start-up: they read the settings themselves and
        # say what is wrong in one line; a traceback from this import would come first.
        return Celery("sync", include=list(TASK_MODULES))
    if not _under_celery_command():
        # Imported by a library user or a test: configured if a broker is, inert otherwise
        # (the CLI and the API send tasks through `make_app` with their own settings).
        if settings.celery_broker_url or settings.redis_url:
            return make_app(settings)
        return Celery("sync", include=list(TASK_MODULES))
    _guard_flower(settings)
    configure_logging(settings.log_level, settings.log_json)
    try:
        celery = make_app(settings)
    except ValueError as exc:
        # `celery -A sync worker` without a broker: one line, not a traceback.
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    # Registered here, not only when a worker boots: Flower's async-apply looks a task up by
    # name in its own app, and beat's timetable leaves out tasks this build does not have.
    celery.loader.import_default_modules()
    from beat_schedule import timetable

    celery.conf.beat_schedule = timetable(settings, set(celery.tasks))
    return celery


app = _app()
