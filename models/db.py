"""The database engine, sessions, and schema migration (automatic for embedded SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

_MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDateError(RuntimeError):
    """The database is behind the code; `customer-sync db upgrade` brings it forward."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (the API) run beside the importer; the busy timeout makes a writer
    # wait for another instead of failing at once.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@cache
def get_engine(url: str) -> Engine:
    """One pooled engine per database URL.

    Its errors never quote the statement's parameters (`hide_parameters`): they are customer
    data, password hashes and tokens, and an error's text reaches logs and terminals.
    """
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)


# The connections the read pool keeps, one for each thread the API runs its reads on
# (api.graphql.context): a pool smaller than the threads closes the connection of every read
# beyond its size on return, and a later read opens a new one. With asyncio's default six
# threads and a pool of five, ten clients made PostgreSQL start ~7 sessions a second.
READ_POOL_SIZE = 8


@cache
def get_read_engine(url: str) -> Engine:
    """A pool for the API's reads: autocommit, so a read is its statements and nothing more.

    On PostgreSQL a read through `get_engine` costs three more round trips than its own
    statements (the pool's ping, `BEGIN`, and `ROLLBACK` on return); on a busy server each
    waits its turn for a core. Without the ping a connection the server dropped fails once:
    the pool is then invalidated, and the API retries such a read on a fresh connection
    (reads are idempotent). SQLite reads share the one engine.
    """
    if url.startswith("sqlite"):
        return get_engine(url)
    return sa.create_engine(
        url, isolation_level="AUTOCOMMIT", pool_size=READ_POOL_SIZE, max_overflow=10, hide_parameters=True
    )


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at this package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty one."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(url: str) -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


class Migration(NamedTuple):
    """What `upgrade` found and left: revisions, None for an empty database."""

    before: str | None
    after: str | None


def upgrade(url: str, revision: str = "head") -> Migration:
    """Migrate the database at `url` to `revision`."""
    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        # Read in the migration's own transaction: what it started from, not what another saw.
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        return Migration(before, MigrationContext.configure(conn).get_current_revision())


def ensure_schema(url: str) -> Engine:
    """The engine for `url`, with its schema at head.

    SQLite is the embedded default and migrates itself on first use; a server database is
    migrated by its operator (`customer-sync db upgrade`), so a stale one is an error here.
    """
    engine = get_engine(url)
    head = head_revision(url)
    current = current_revision(engine)
    if current == head:
        return engine
    if engine.dialect.name == "sqlite":
        upgrade(url)
        return engine
    if current is None:
        # A database created but never migrated: "schema is at None" told a person nothing.
        raise SchemaOutOfDateError(
            "the database has no customer-sync schema yet; run `customer-sync db upgrade`"
        )
    raise SchemaOutOfDateError(
        f"database schema is at {current!r}, code needs {head!r}: run `customer-sync db upgrade`"
    )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
