"""Planner statistics kept current while a run grows the tables it loads (PostgreSQL's ANALYZE)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from models import (
    Customer,
    CustomerSource,
    Order,
    PointsLedger,
    Promotion,
    Redemption,
    SourceTombstone,
    Store,
    SyncSeen,
)

log = structlog.get_logger("sync.load")

# The tables a batch writes or looks rows up in, whichever kind it loads.
LOADED_TABLES: tuple[sa.Table, ...] = tuple(
    model.__table__  # type: ignore[union-attr]
    for model in (
        Customer,
        CustomerSource,
        SourceTombstone,
        SyncSeen,
        Order,
        Redemption,
        PointsLedger,
        Promotion,
        Store,
    )
)

# A table is analyzed again once it has grown to `GROWTH` times the pages it had at its last
# ANALYZE (and to at least `MIN_PAGES`, 512 kB): a first import analyzes each table about
# log4(its pages) times. Once the planner has seen that a key is unique, its estimates follow
# the table's growth by themselves (it scales the rows it last saw by the pages there are now).
MIN_PAGES = 64
GROWTH = 4.0
# Sizes are read again only once a run has written this many rows since it last read them: a
# re-import that changed little writes a few rows a batch, and its batches need not each pay
# the read (a connection checkout, its ping and a query: ~4 round trips).
CHECK_ROWS = 1000
# ANALYZE takes a lock that conflicts with another ANALYZE of the same table (autovacuum's, a
# sibling chunk's): rather than queue behind it, this run leaves the table to that one.
_LOCK_TIMEOUT = "200ms"


class PlannerStatistics:
    """Runs ANALYZE on the loaded tables that have grown well past what the planner last saw.

    PostgreSQL plans from the statistics ANALYZE gathers. Autovacuum gathers them only every
    `autovacuum_naptime` (60 s by default) once 10 % of a table changed, and never where it is
    off; a first import grows `customer_source` from nothing to millions of rows within one
    run. Planned from no statistics, the loader's `= ANY(array)` lookups scan the whole table
    instead of its index: 39 ms instead of 0.2 ms per batch of 50 customers at 200,000 rows
    (measured on this project's bench store). The PostgreSQL manual says to run ANALYZE after
    bulk loading ("Populating a Database", section 14.4.9); this does it while the load runs.

    Growth is read from each table's size on disk (`pg_relation_size`), which a committed
    batch changes at once and which counts every writer (chunks loading beside this one too),
    beside the pages the last ANALYZE saw (`pg_class.relpages`). Only the indexed columns are
    analyzed: they are what the loader's lookups filter and join on, and leaving out the rest
    (a source row's JSON payload) makes ANALYZE 2-4x cheaper. A no-op on other databases.
    """

    def __init__(self, engine: Engine, tables: Sequence[sa.Table] = LOADED_TABLES) -> None:
        self.engine = engine
        self.tables = {table.name: key_columns(table) for table in tables}
        self.enabled = engine.dialect.name == "postgresql"
        self.analyzed: list[str] = []  # every table this object analyzed, in order (for tests, logs)
        self._written = 0  # rows written since the sizes were last read

    def refresh(self, written: int | None = None) -> list[str]:
        """ANALYZE each table grown past its threshold now; the tables it analyzed.

        `written`: the rows the caller wrote since its last call; the sizes are read only once
        these add up to `CHECK_ROWS` (None: read them now, as before a run's first lookup).
        Call it between batches, outside their transactions: each ANALYZE commits on its own.
        A table another session is analyzing is skipped, not waited for. A database error is
        not the run's: it is logged and the run goes on with the plans it has.
        """
        if not self.enabled:
            return []
        if written is not None:
            self._written += written
            if self._written < CHECK_ROWS:
                return []
        self._written = 0
        done: list[str] = []
        try:
            with self.engine.begin() as conn:
                stale = [
                    name for name, seen, now in self._pages(conn) if now >= max(MIN_PAGES, GROWTH * seen)
                ]
            for name in stale:
                if self._analyze(name):
                    done.append(name)
        except sa.exc.DBAPIError as exc:
            log.warning("statistics.failed", error=type(exc.orig).__name__)
        self.analyzed.extend(done)
        return done

    def _pages(self, conn: sa.Connection) -> list[tuple[str, int, int]]:
        """(table, pages at its last ANALYZE, pages now) of each table."""
        rows = conn.execute(
            sa.text(
                "SELECT relname, relpages,"
                " pg_relation_size(oid) / current_setting('block_size')::int"
                " FROM pg_class"
                " WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
                " AND relname = ANY(:names)"
            ),
            {"names": list(self.tables)},
        ).all()
        return [(str(name), int(seen), int(now)) for name, seen, now in rows]

    def _analyze(self, name: str) -> bool:
        with self.engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            columns = ", ".join(quote(c) for c in self.tables[name])
            try:
                with conn.begin():
                    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
                    conn.execute(sa.text(f"ANALYZE {quote(name)} ({columns})"))
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "pgcode", None) == "55P03":  # lock_not_available
                    log.debug("statistics.busy", table=name)
                    return False
                raise
        log.debug("statistics.analyzed", table=name)
        return True


def key_columns(table: sa.Table) -> list[str]:
    """The names of `table`'s columns that its primary key, unique constraints or indexes
    cover, in table order."""
    keyed: set[str] = {c.name for c in table.primary_key.columns}
    groups: Iterable[Any] = (*table.indexes, *table.constraints)
    for group in groups:
        keyed.update(c.name for c in getattr(group, "columns", ()) if isinstance(c, sa.Column))
    return [c.name for c in table.columns if c.name in keyed]
