"""Run records: open a run, set its status, finish it, and the summary a run ends with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from connectors import FatalSourceError, Stream, redact
from models import COUNT_FIELDS, ConnectorState, SyncRun, SyncSeen, utcnow
from models.enums import RunStatus
from sync.pipeline.lease import Lease, StreamBusy, acquire, lease_expiry, release, still_held

log = structlog.get_logger("sync.pipeline")

# The error an interrupted run is paused with.
INTERRUPTED = "interrupted (Ctrl-C)"

# What a run summary reports; conflicts are shown beside them but are also warnings.
SUMMARY_KEYS = tuple(k for k in COUNT_FIELDS if k != "conflicts")


class RunFailedError(FatalSourceError):
    """A run stopped by an error its stream explained (unreachable, refusing), recorded failed."""

    def __init__(self, run_id: str, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


@dataclass(slots=True)
class RunSummary:
    """How a run ended, as the CLI's `--json` prints it."""

    run_id: str
    status: str
    counts: dict[str, int]
    error: str | None = None
    # For a file: the layout it was read with, and each header column's destination field.
    layout: str | None = None
    columns: dict[str, str] | None = None
    encoding: str | None = None  # the file's, as detected (`cp1252`, `utf-8`, …)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            **{k: self.counts.get(k, 0) for k in SUMMARY_KEYS},
            "conflicts": self.counts.get("conflicts", 0),
            "error": self.error,
        }
        if self.layout is not None:
            data["layout"] = self.layout
            data["columns"] = self.columns or {}
            data["encoding"] = self.encoding
        return data


def new_run_id() -> str:
    return uuid.uuid4().hex


def resolve_run_id(conn: sa.Connection, given: str) -> str:
    """The run a full id or a unique prefix of one names (as `runs list` may shorten them).

    Raises FatalSourceError with one line when none or several runs match.
    """
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    given = given.strip()
    if conn.execute(sa.select(runs.c.id).where(runs.c.id == given)).first():
        return given
    found = (
        conn.execute(
            sa.select(runs.c.id)
            .where(runs.c.id.startswith(given, autoescape=True))
            .order_by(runs.c.id)
            .limit(3)
        )
        .scalars()
        .all()
        if given
        else []
    )
    if not found:
        raise FatalSourceError(f"no run {given!r}")
    if len(found) > 1:
        raise FatalSourceError(
            f"{given!r} matches several runs ({', '.join(found[:2])}{', …' if len(found) > 2 else ''}); "
            "give more of the id"
        )
    return str(found[0])


def create_run(
    engine: Engine,
    stream: Stream,
    *,
    entity_kind: str,
    mode: str,
    trigger: str,
    run_id: str | None = None,
    status: str = RunStatus.RUNNING,
    task_id: str | None = None,
) -> str:
    """Record a new run (`running`, or `queued` for a worker) and return its id."""
    state = _load_cursor(engine, stream)
    run = SyncRun(
        id=run_id or new_run_id(),
        source=stream.source_name,
        stream=run_stream(stream, entity_kind),
        mode=mode,
        trigger=trigger,
        status=status,
        task_id=task_id,
        params=stream.describe(),
        cursor_before=state,
    )
    with engine.begin() as conn:
        conn.execute(sa.insert(SyncRun.__table__).values(**run.model_dump()))  # type: ignore[attr-defined]
    return run.id


def run_stream(stream: Stream, entity_kind: str) -> str:
    """The `sync_run.stream` of a stream read as `entity_kind`, also the key of its lease."""
    return stream.name if entity_kind == "customers" else f"{stream.name}:{entity_kind}"


def set_task(engine: Engine, run_id: str, task_id: str) -> None:
    """Record the Celery task now carrying the run (Flower lists it under this id)."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(task_id=task_id))


def _load_cursor(engine: Engine, stream: Stream) -> dict[str, Any]:
    t = ConnectorState.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        cursor = conn.execute(
            sa.select(t.c.cursor).where(t.c.source == stream.source_name, t.c.stream == stream.name)
        ).scalar()
    return dict(cursor or {})


def recorded_error(exc: BaseException) -> str:
    """What a run record keeps of an unexpected error: its kind and message.

    A database error's message quotes its SQL statement and parameters, and the driver's its
    values (`Failing row contains (...)`): customer data, even secrets, for whoever reads runs
    (CLI, GraphQL, Flower). Of those only the kinds and the driver's code are kept; the log has
    the traceback under the run id.
    """
    described = brief_error(exc)
    return (
        f"{described}; the statement is in the log" if isinstance(exc, sa.exc.StatementError) else described
    )


def brief_error(exc: BaseException) -> str:
    """An unexpected error in a few words: its kind and message, or a database error's kinds and
    the driver's code (`IntegrityError (CheckViolation, SQLSTATE 23514)`), never its statement."""
    if isinstance(exc, sa.exc.StatementError):
        return f"{type(exc).__name__} ({_driver_code(exc.orig)})"
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# The attribute `note_stopped_run` leaves on an exception; named so no library's could clash.
_STOPPED_RUN = "customer_sync_stopped_run"


def note_stopped_run(exc: BaseException, summary: RunSummary) -> None:
    """Leave on `exc` the run it stopped, as its record now stands, for `stopped_run`.

    An attribute rather than an exception wrapping `exc`: Celery retries by the error's own
    type, and callers catch it by that type too.
    """
    setattr(exc, _STOPPED_RUN, summary)


def stopped_run(exc: BaseException) -> RunSummary | None:
    """The run `exc` stopped (recorded failed, or left running by an interrupt), if it stopped one.

    None for an error raised outside a run's batches, which the pipeline has not logged.
    """
    summary = getattr(exc, _STOPPED_RUN, None)
    return summary if isinstance(summary, RunSummary) else None


def run_summary(engine: Engine, run_id: str) -> RunSummary:
    """A run's summary as its record now stands (its counts: what its batches committed)."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
    return RunSummary(run_id, run["status"], {k: run[k] for k in COUNT_FIELDS}, run["error"])


def _driver_code(cause: BaseException | None) -> str:
    """The driver's error and its code: `CheckViolation, SQLSTATE 23514` from psycopg2,
    `IntegrityError, SQLITE_CONSTRAINT_CHECK` from sqlite3."""
    if cause is None:
        return "no driver error"
    pgcode = getattr(cause, "pgcode", None)
    code = f"SQLSTATE {pgcode}" if pgcode else getattr(cause, "sqlite_errorname", None)
    return f"{type(cause).__name__}, {code}" if code else type(cause).__name__


def _kept(error: str | None) -> str | None:
    """What of an error a run record keeps: no secret (sources quote session ids), 2000 chars."""
    return None if error is None else redact(error)[:2000]


def set_run_status(
    engine: Engine, run_id: str, status: str, error: str | None, lease: Lease | None = None
) -> None:
    """Set a run's status; a run that stops (paused, failed) gives its stream up."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(status=status, error=_kept(error)))
        if lease is not None and status != RunStatus.RUNNING:
            release(conn, lease)


def pause_interrupted(engine: Engine, run_id: str, exc: KeyboardInterrupt) -> None:
    """Ctrl-C: the run `paused` after its last committed batch, its stream given up.

    So `runs resume` carries it on at once, rather than refusing it until its lease runs out
    (a lease cannot tell a process that stopped from one still loading). Noted on `exc` for
    the CLI's line; a run stopped deeper down (a chunk of it) is noted already and left be.
    """
    if stopped_run(exc) is not None:
        return
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    try:
        with engine.begin() as conn:
            row = conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id, runs.c.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]))
                .values(status=RunStatus.PAUSED, error=INTERRUPTED)
                .returning(runs.c.source, runs.c.stream)
            ).first()
            if row is not None:
                release(conn, Lease(row.source, row.stream, run_id, "", 0))
        summary = run_summary(engine, run_id)
    except sa.exc.SQLAlchemyError as db_exc:
        # The store may be what hung and was interrupted: the run stays `running` until its
        # lease runs out, and the CLI's line says to wait for that.
        log.warning("run.pause_failed", run_id=run_id, error=type(db_exc).__name__)
        summary = RunSummary(run_id, RunStatus.RUNNING, {}, "interrupted")
    note_stopped_run(exc, summary)


def close_run(conn: sa.Connection, run_id: str, status: str, error: str | None) -> None:
    """End a run inside `conn`'s transaction: status, end time, its duplicate keys dropped."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    seen = SyncSeen.__table__  # type: ignore[attr-defined]
    conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(status=status, error=_kept(error), finished_at=utcnow())
    )
    # The per-run key set only serves duplicate counting while the run lasts.
    conn.execute(sa.delete(seen).where(seen.c.run_id == run_id))


def finish_run(engine: Engine, run_id: str, status: str, error: str | None, lease: Lease) -> None:
    """End a run and give its stream up, in one transaction."""
    with engine.begin() as conn:
        close_run(conn, run_id, status, error)
        release(conn, lease)


def take_stream(engine: Engine, lease: Lease, run: sa.RowMapping, *, fresh: bool) -> RunSummary | None:
    """Take the run's stream for `lease.token`; a summary when the run is `skipped` instead.

    A fresh run (nothing committed) that finds another run holding the stream is recorded
    `skipped`, naming the holder. A run already under way raises StreamBusy, as does any run
    whose lease another live process holds (so `runs resume` never doubles a live run).
    """
    holder = acquire(engine, lease)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    if holder is None:
        with engine.begin() as conn:
            conn.execute(
                sa.update(runs).where(runs.c.id == lease.run_id).values(status=RunStatus.RUNNING, error=None)
            )
        return None
    if holder == lease.run_id:
        expires_at = lease_expiry(engine, lease.source, lease.stream, holder)
        raise StreamBusy(holder, still_held(holder, expires_at))
    if not fresh or run["status"] not in (RunStatus.QUEUED, RunStatus.RUNNING):
        raise StreamBusy(holder, f"run {holder} holds {lease.source}/{lease.stream}; try again when it ends")
    error = f"run {holder} held {lease.source}/{lease.stream}"
    with engine.begin() as conn:
        conn.execute(
            sa.update(runs)
            .where(runs.c.id == lease.run_id)
            .values(status=RunStatus.SKIPPED, held_by=holder, error=error, finished_at=utcnow())
        )
    return RunSummary(lease.run_id, RunStatus.SKIPPED, {k: 0 for k in COUNT_FIELDS}, error)


def fail_run(engine: Engine, run_id: str, error: str, *, stopped_too: bool = False) -> None:
    """Mark a run that had not ended `failed` (its task gave up), and free its stream.

    With `stopped_too` a run already failed or paused gets the new reason as well: a retry
    that gave up before the run restarted would otherwise leave the old error on show.
    """
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    statuses = [RunStatus.QUEUED, RunStatus.RUNNING]
    if stopped_too:
        statuses += [RunStatus.FAILED, RunStatus.PAUSED]
    with engine.begin() as conn:
        row = conn.execute(
            sa.update(runs)
            .where(runs.c.id == run_id, runs.c.status.in_(statuses))
            .values(status=RunStatus.FAILED, error=_kept(error))
            .returning(runs.c.source, runs.c.stream)
        ).first()
        if row is not None:
            release(conn, Lease(row.source, row.stream, run_id, "", 0))
