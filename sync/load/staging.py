"""Staging tables: a batch lands set-wise in a temporary table (COPY on PostgreSQL)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa


def temp_table(name: str, *columns: sa.Column[Any]) -> sa.Table:
    """A temporary table definition, dropped at commit on PostgreSQL."""
    return sa.Table(
        name,
        sa.MetaData(),
        *columns,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def _copy_field(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        text = "t" if value else "f"
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), default=str)
    elif isinstance(value, int | float | Decimal):
        return str(value)
    else:
        text = str(value)
    # Quote every text value, so a literal "\N" is never taken for NULL.
    return '"' + text.replace('"', '""') + '"'


def stage(conn: sa.Connection, table: sa.Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """Create `table` afresh in this transaction and fill it with `rows`."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
    table.create(conn)
    names = [c.name for c in table.columns]
    if conn.dialect.name == "postgresql":
        buf = io.StringIO()
        for row in rows:
            buf.write(",".join(_copy_field(row.get(n)) for n in names))
            buf.write("\n")
        buf.seek(0)
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cur: Any = raw.cursor()
        try:
            cur.copy_expert(
                f"COPY {table.name} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                buf,
            )
        finally:
            cur.close()
        return
    batch = [{n: row.get(n) for n in names} for row in rows]
    if batch:
        conn.execute(table.insert(), batch)


def drop(conn: sa.Connection, *tables: sa.Table) -> None:
    """Drop staging tables now (SQLite keeps temporary tables until the connection closes)."""
    for table in tables:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
