"""Sending work to the Celery worker from the command line (only when a broker is configured)."""

from __future__ import annotations

import sys
from typing import Any

from sync.celery import broker_url, close_app, make_app
from sync.cli._common import err, fail, print_json
from sync.settings import Settings

__all__ = ["enqueue", "has_broker", "report_queued", "require_broker"]


def has_broker(settings: Settings) -> bool:
    """A worker can be reached: CELERY_BROKER_URL (or REDIS_URL) is set."""
    return broker_url(settings) is not None


def require_broker(settings: Settings) -> None:
    if not has_broker(settings):
        fail("--enqueue needs CELERY_BROKER_URL (or REDIS_URL); without it, leave --enqueue out to run here")


def enqueue(settings: Settings, task: str, kwargs: dict[str, Any]) -> str:
    """Send `task` by its name with small JSON kwargs; the Celery task id."""
    app = make_app(settings)
    try:
        return str(app.send_task(task, kwargs=kwargs).id)
    except Exception as exc:  # kombu raises its own OperationalError family for a dead broker
        fail(f"cannot reach the broker: {type(exc).__name__}")
        raise  # unreachable: fail() exits
    finally:
        close_app(app)


def report_queued(run_id: str, task_id: str, as_json: bool) -> None:
    """Exactly the run id on stdout (JSON with --json), so `RUN=$(customer-sync ... --enqueue)` works.

    The sentence for a person goes to stderr: on stdout rich wrapped it at the terminal's width.
    """
    if as_json:
        print_json({"run_id": run_id, "task_id": task_id, "status": "queued"})
        return
    sys.stdout.write(run_id + "\n")
    err.print(
        f"queued run {run_id} (task {task_id}); follow it with: customer-sync runs show {run_id}",
        highlight=False,
        soft_wrap=True,
    )
