"""`INSERT … SELECT … ON CONFLICT` from a staging table, for PostgreSQL and SQLite alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def upsert_from(
    conn: sa.Connection,
    target: sa.Table,
    source: sa.Select[*tuple[Any, ...]],
    columns: Sequence[str],
    conflict: Sequence[str],
    update: Callable[[Any], dict[str, Any]] | None = None,
) -> None:
    """Insert `source`'s rows into `target`; on a key conflict update with `update(excluded)`."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    if conn.dialect.name == "sqlite":
        # SQLite cannot tell `SELECT … FROM t ON CONFLICT` from a join; a WHERE settles it.
        source = source.where(sa.true())
    stmt = insert(target).from_select(list(columns), source)
    if update is None:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=list(conflict)))
    else:
        conn.execute(stmt.on_conflict_do_update(index_elements=list(conflict), set_=update(stmt.excluded)))
