"""Stored source priorities kept to the setting: a changed SOURCE_PRIORITY reaches every golden record."""

from __future__ import annotations

from collections.abc import Callable, Mapping

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


def apply_priorities(engine: Engine, given: Mapping[str, int], priority_of: Callable[[str], int]) -> int:
    """Give every stored source row the priority its source has now, and recompute the golden
    record of each customer whose rows changed; how many customers were recomputed.

    A source row keeps the priority it was written with, and the golden record is computed from
    the stored priorities: without this, a changed SOURCE_PRIORITY reached only rows written
    again, and an unchanged re-import writes none (review F6), so a store written under a wrong
    setting kept it (F7: sign-ups stored at `csv`'s priority). `given`: the priorities as set
    (`Settings.source_priority`); when they equal the ones last applied (kept in
    `connector_state`, `STATE_KEY`), nothing is read. `priority_of`: a source's priority now
    (`Settings.priority_of`, which also ranks names the map does not list).
    """
    state = ConnectorState.__table__  # type: ignore[attr-defined]
    applied = {"source_priority": dict(sorted(given.items()))}
    source, stream = STATE_KEY
    with engine.connect() as conn:
        kept = conn.execute(
            sa.select(state.c.cursor).where(state.c.source == source, state.c.stream == stream)
        ).scalar()
    if kept == applied:
        return 0
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(cs.c.source, cs.c.priority).distinct()).all()
    stale = sorted({name for name, priority in stored if priority != priority_of(name)})
    recomputed = 0
    for name in stale:
        priority = priority_of(name)
        while True:
            with engine.begin() as conn:
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
                recompute_customers(conn, pks)
            recomputed += len(pks)
        log.info("priorities.applied", source=name, priority=priority)
    with engine.begin() as conn:
        save_state(conn, source, stream, applied)
    return recomputed
