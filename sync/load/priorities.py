"""Stored source priorities kept to the setting: a changed SOURCE_PRIORITY reaches every golden record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from models import ConnectorState, CustomerSource
from sync.load.golden import recompute_customers
from sync.load.state import save_state

log = structlog.get_logger("sync.load")

# The `connector_state` row that keeps the priorities last applied to the stored rows.
STATE_KEY = ("customer-sync", "source_priority")
# Customers recomputed per transaction while a changed priority is applied.
CHUNK = 5000
# How long a transaction of the apply waits for a row another run's batch holds before it gives
# way (PostgreSQL): below `deadlock_timeout` (1 s), so the apply yields, not the other run.
_LOCK_TIMEOUT = "200ms"


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying the priorities did: customers recomputed, the e-mail conflicts found
    (customer pk, wanted e-mail, holder pk), and whether it was left for a later run."""

    recomputed: int = 0
    conflicts: list[tuple[int, str, int]] = field(default_factory=list)
    deferred: bool = False


def apply_priorities(engine: Engine, given: Mapping[str, int], priority_of: Callable[[str], int]) -> Applied:
    """Give every stored source row the priority its source has now, and recompute the golden
    record of each customer whose rows changed.

    A source row keeps the priority it was written with, and the golden record is computed from
    the stored priorities: without this, a changed SOURCE_PRIORITY reached only rows written
    again, and an unchanged re-import writes none (review F6), so a store written under a wrong
    setting kept it (F7: sign-ups stored at `csv`'s priority). `given`: the priorities as set
    (`Settings.source_priority`); when they equal the ones last applied (kept in
    `connector_state`, `STATE_KEY`), nothing is read. `priority_of`: a source's priority now
    (`Settings.priority_of`, which also ranks names the map does not list).

    Never fails the caller's run: a row another run is writing is not waited for past
    `_LOCK_TIMEOUT` (two orders of locking deadlocked, review), and any database error leaves
    what is not applied yet, and the state, to the next run (`deferred`, logged). Each chunk
    commits on its own, so what was applied stays.
    """
    state = ConnectorState.__table__  # type: ignore[attr-defined]
    applied = {"source_priority": dict(sorted(given.items()))}
    source, stream = STATE_KEY
    with engine.connect() as conn:
        kept = conn.execute(
            sa.select(state.c.cursor).where(state.c.source == source, state.c.stream == stream)
        ).scalar()
    if kept == applied:
        return Applied()
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    recomputed = 0
    conflicts: list[tuple[int, str, int]] = []
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.select(cs.c.source, cs.c.priority).distinct()).all()
        stale = sorted({name for name, priority in stored if priority != priority_of(name)})
        for name in stale:
            priority = priority_of(name)
            while True:
                with engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        conn.execute(sa.text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
                    pks = list(
                        conn.execute(
                            sa.select(cs.c.customer_pk)
                            .where(cs.c.source == name, cs.c.priority != priority)
                            .group_by(cs.c.customer_pk)
                            .order_by(cs.c.customer_pk)
                            .limit(CHUNK)
                        ).scalars()
                    )
                    if not pks:
                        break
                    conn.execute(
                        sa.update(cs)
                        .where(cs.c.source == name, cs.c.customer_pk.in_(pks))
                        .values(priority=priority)
                    )
                    conflicts += recompute_customers(conn, pks).conflicts
                recomputed += len(pks)
            log.info("priorities.applied", source=name, priority=priority)
        with engine.begin() as conn:
            save_state(conn, source, stream, applied)
        if conflicts:
            log.warning("priorities.conflicts", conflicts=len(conflicts))
    except sa.exc.DBAPIError as exc:
        # A lock another run holds, a deadlock, a lost connection: the next run goes on from here.
        log.warning("priorities.deferred", recomputed=recomputed, error=type(exc.orig).__name__)
        return Applied(recomputed, conflicts, deferred=True)
    return Applied(recomputed, conflicts)
