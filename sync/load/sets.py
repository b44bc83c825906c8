"""Set-wise lookups: `column IN (…)` as one array parameter on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def one_of(
    conn: sa.Connection, column: sa.ColumnElement[Any], values: Iterable[Any]
) -> sa.ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(:array)`.

    A batch looks up thousands of ids at once: as an IN list SQLAlchemy renders and binds one
    parameter per value on every execution (several µs a row), an array is one parameter
    that psycopg2 adapts in C. The planner treats both alike (an index scan per value).
    """
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))
