"""What every run task shares: transient errors retried with back-off, failures kept on the run."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from celery import Task
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.engine import Engine

from connectors import TransientSourceError
from models import ensure_schema
from sync.pipeline import fail_run, recorded_error
from sync.settings import get_settings

log = structlog.get_logger("sync.tasks")

# Failures that may pass on their own: the source's (after its in-call retries), the
# store's connection, the broker's. Anything else is permanent and fails the task at once.
TRANSIENT: tuple[type[BaseException], ...] = (
    TransientSourceError,
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    BrokerError,
)

_settings = get_settings()


def run_id_for(task_id: str) -> str:
    """A run id for a task sent without one: a redelivery of the task finds the same run."""
    return task_id.replace("-", "")[:32]


def one_line(exc: BaseException) -> str:
    """What an operator reads on the run: the error's kind and message, no traceback, no SQL."""
    return recorded_error(exc).splitlines()[0][:2000]


class RunTask(Task):
    """A task that carries a run: retried on TRANSIENT errors, its run failed when it gives up.

    Back-off doubles from 1 s with full jitter, capped by CELERY_RETRY_BACKOFF_MAX_SECONDS,
    which Settings keeps below the visibility timeout: a retry is a new message sent with a
    countdown, and one still waiting when the timeout passes would be delivered twice.
    """

    autoretry_for = TRANSIENT
    retry_backoff = True
    retry_backoff_max = _settings.celery_retry_backoff_max_seconds
    retry_jitter = True
    max_retries = _settings.celery_max_retries
    # A task that retries a stopped run: when it gives up, the run shows the new reason.
    fails_stopped_runs = False

    def run_of(self, args: tuple[Any, ...], kwargs: dict[str, Any], task_id: str) -> str | None:
        """The run this task carries, to be failed when the task gives up."""
        run_id = kwargs.get("run_id")
        return str(run_id) if run_id else None

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        run_id = self.run_of(args, kwargs, task_id)
        log.error("task.failed", task=self.name, task_id=task_id, run_id=run_id, error=one_line(exc))
        if run_id:
            try:
                fail_run(
                    ensure_schema(get_settings().database_url),
                    run_id,
                    one_line(exc),
                    stopped_too=self.fails_stopped_runs,
                )
            except sa.exc.SQLAlchemyError as db_exc:
                log.error("task.fail_run_failed", run_id=run_id, error=type(db_exc).__name__)


class SliceTask(RunTask):
    """A task that loads one slice (a chunk, a page) of a fanned-out run, sent with `run_id`
    and `index`: when it gives up, it fails its slice, and the slice its run (`fail_slice`).
    """

    def run_of(self, args: tuple[Any, ...], kwargs: dict[str, Any], task_id: str) -> str | None:
        return None  # the slice fails its run itself, below

    def fail_slice(self, engine: Engine, run_id: str, index: int, error: str) -> None:
        """Mark slice `index` of `run_id` failed with `error`, and its run with it."""
        raise NotImplementedError

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        super().on_failure(exc, task_id, args, kwargs, einfo)
        params = dict(zip(("run_id", "index"), args, strict=False)) | kwargs
        if "run_id" in params and "index" in params:
            engine = ensure_schema(get_settings().database_url)
            self.fail_slice(engine, params["run_id"], int(params["index"]), one_line(exc))
