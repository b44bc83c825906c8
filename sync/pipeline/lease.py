"""Stream leases: one run per (source, stream) at a time, lost by an owner that stops renewing."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from models import RunLease, utcnow

log = structlog.get_logger("sync.lease")

_t = RunLease.__table__  # type: ignore[attr-defined]


class LeaseLost(Exception):  # noqa: N818 - it names what happened, like PauseRun
    """Another run took the stream after this run's lease expired; stop without committing."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"run {holder} took the stream over")
        self.holder = holder


class StreamBusy(Exception):  # noqa: N818 - a state, not a fault of the caller
    """The stream is held by a live run (`holder`), possibly this very run in another process."""

    def __init__(self, holder: str, message: str) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True, slots=True)
class Lease:
    """The claim of `token` on behalf of `run_id` to the stream (source, stream)."""

    source: str
    stream: str
    run_id: str
    token: str
    seconds: int


def claim(conn: sa.Connection, lease: Lease) -> str | None:
    """Take or extend the lease; None on success, else the id of the run that holds it.

    It is ours to take when free, expired, or already held by the same run and token. A
    single upsert, so two claims at once cannot both win (the unique key serialises them).
    """
    now = utcnow()
    values = {
        "source": lease.source,
        "stream": lease.stream,
        "run_id": lease.run_id,
        "token": lease.token,
        "expires_at": now + timedelta(seconds=lease.seconds),
    }
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_t)
    stmt = insert.values(values)
    mine = sa.and_(_t.c.run_id == lease.run_id, _t.c.token == lease.token)
    taken = conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[_t.c.source, _t.c.stream],
            set_={k: stmt.excluded[k] for k in ("run_id", "token", "expires_at")},
            where=sa.or_(mine, _t.c.expires_at < now),
        ).returning(_t.c.run_id)
    ).first()
    if taken is not None:
        # Inserted or updated: the row now holds this run and token (a batch renews in one
        # statement; only a refused claim reads who holds the stream).
        return None
    row = conn.execute(
        sa.select(_t.c.run_id, _t.c.token).where(_t.c.source == lease.source, _t.c.stream == lease.stream)
    ).one()
    return None if (row.run_id, row.token) == (lease.run_id, lease.token) else str(row.run_id)


def acquire(engine: Engine, lease: Lease) -> str | None:
    """`claim` in its own transaction."""
    with engine.begin() as conn:
        return claim(conn, lease)


def renew_within(conn: sa.Connection, lease: Lease) -> None:
    """Extend the lease inside a batch's transaction; LeaseLost (rolling it back) if gone."""
    holder = claim(conn, lease)
    if holder is not None:
        raise LeaseLost(holder)


def release(conn: sa.Connection, lease: Lease) -> None:
    """Give the stream up (only if this run still holds it)."""
    conn.execute(
        sa.delete(_t).where(
            _t.c.source == lease.source, _t.c.stream == lease.stream, _t.c.run_id == lease.run_id
        )
    )


def holder_of(engine: Engine, source: str, stream: str) -> tuple[str, str] | None:
    """(run id, token) of the live lease on a stream, if any."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(_t.c.run_id, _t.c.token).where(
                _t.c.source == source, _t.c.stream == stream, _t.c.expires_at >= utcnow()
            )
        ).first()
    return (str(row.run_id), str(row.token)) if row else None


def lease_expiry(engine: Engine, source: str, stream: str, run_id: str) -> datetime | None:
    """When `run_id`'s live lease on the stream runs out, unless renewed; None if it holds none."""
    with engine.connect() as conn:
        expires_at: datetime | None = conn.execute(
            sa.select(_t.c.expires_at).where(
                _t.c.source == source,
                _t.c.stream == stream,
                _t.c.run_id == run_id,
                _t.c.expires_at >= utcnow(),
            )
        ).scalar()
    return expires_at


def still_held(run_id: str, expires_at: datetime | None) -> str:
    """Why a run whose own lease is live cannot be resumed yet, and from when it can.

    The lease alone cannot tell a live owner from one killed (kill -9, a lost machine): both
    look the same until it runs out. So the operator is told both, and when to try again.
    """
    if expires_at is None:
        # It ran out or was given up between the check and this message.
        return f"run {run_id} is still running in another process, or was until just now; try again"
    left = max(1, math.ceil((expires_at - utcnow()).total_seconds()))
    return (
        f"run {run_id} is still running in another process, or its process died and its lease "
        f"has not expired: it expires in {left} s (at {expires_at:%Y-%m-%d %H:%M:%S} UTC) unless "
        "renewed; resume it after that"
    )


class Heartbeat:
    """Renews a lease every third of its length while a long call (an API wait) runs.

    Batches renew it too, inside their transactions; this only keeps a run that is alive
    but between batches from looking dead. Failures are logged and retried, never raised:
    the batch's own renewal is what guards the data.
    """

    def __init__(self, engine: Engine, lease: Lease) -> None:
        self._engine = engine
        self._lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{lease.run_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(max(1.0, self._lease.seconds / 3)):
            try:
                holder = acquire(self._engine, self._lease)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("lease.renew_failed", run_id=self._lease.run_id, error=type(exc).__name__)
                continue
            if holder is not None:
                log.warning("lease.lost", run_id=self._lease.run_id, holder=holder)
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
