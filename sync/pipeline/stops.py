"""A fanned-out run carried on in this process: why it stopped is kept on the run, as a worker keeps it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog
from sqlalchemy.engine import Engine

from connectors import FatalSourceError, TransientSourceError, redact
from sync.pipeline.lease import LeaseLost, StreamBusy
from sync.pipeline.runs import (
    RunFailedError,
    fail_run,
    note_stopped_run,
    pause_interrupted,
    recorded_error,
    run_summary,
    stopped_run,
)

log = structlog.get_logger("sync.fanout")

# Marks the slice being loaded failed with an error, and its run with it (`fail_chunk`, `fail_page`).
SliceFailure = Callable[[str], None]


@contextmanager
def stops_recorded(engine: Engine, run_id: str, fail_slice: SliceFailure | None = None) -> Iterator[None]:
    """Keep on the run why the code inside stopped it, then let the error go on.

    A worker's task does this when it gives up (`RunTask.on_failure`). In this process nobody
    else would: the run stayed `running` with no error, its stream held until the lease ran out.
    An error fails the slice being loaded (`fail_slice`) and the run with it, or else the run
    alone; the run it stopped is noted on the error (`stopped_run`), so the CLI names it and an
    enclosing `stops_recorded` leaves it be. Ctrl-C pauses the run (`pause_interrupted`). A
    stream that another owner took (StreamBusy, LeaseLost) is theirs to carry on, and the run
    is left as it is.
    """
    try:
        yield
    except (StreamBusy, LeaseLost):
        raise
    except KeyboardInterrupt as exc:
        pause_interrupted(engine, run_id, exc)
        raise
    except (FatalSourceError, TransientSourceError) as exc:
        if stopped_run(exc) is not None:
            raise
        # Sources quote their error bodies, and those may carry a session id: never kept.
        message = redact(str(exc))
        log.error("run.failed", run_id=run_id, error=message)
        _fail(engine, run_id, fail_slice, message)
        if isinstance(exc, FatalSourceError):
            exc.run_id = run_id
            note_stopped_run(exc, run_summary(engine, run_id))
            raise
        # A source's 5xx or timeout past its client's retries: no task retries it here, so the
        # run failed on it, resumable as any failed run.
        failed = RunFailedError(run_id, message)
        note_stopped_run(failed, run_summary(engine, run_id))
        raise failed from exc
    except Exception as exc:
        if stopped_run(exc) is not None:
            raise
        log.exception("run.failed", run_id=run_id, error=type(exc).__name__)
        _fail(engine, run_id, fail_slice, recorded_error(exc))
        note_stopped_run(exc, run_summary(engine, run_id))
        raise


def _fail(engine: Engine, run_id: str, fail_slice: SliceFailure | None, error: str) -> None:
    if fail_slice is not None:
        fail_slice(error)
    else:
        fail_run(engine, run_id, error)
