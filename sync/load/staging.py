"""Staging tables: a batch lands set-wise in a temporary table (COPY on PostgreSQL)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable


def temp_table(name: str, *columns: sa.Column[Any]) -> sa.Table:
    """A temporary table definition, dropped at commit on PostgreSQL."""
    return sa.Table(
        name,
        sa.MetaData(),
        *columns,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


class JsonText(str):
    """A JSON column's value already encoded (a draft's payload, `Draft.encode`): staged as is."""

    __slots__ = ()


def _json(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is JsonText:
        return value
    if type(value) is dict and not value:
        return "{}"  # most customers' extraInfo
    return json.dumps(value, separators=(",", ":"), default=str)


def _is_stamp(column_type: sa.types.TypeEngine[Any]) -> bool:
    """A DateTime column, also behind a TypeDecorator (models' UTCDateTime)."""
    return isinstance(getattr(column_type, "impl", column_type), sa.DateTime)


# COPY's text format (PostgreSQL docs, "COPY", File Formats): columns split by a tab, rows by a
# newline, NULL as `\N`, and in a value a backslash, a tab, a newline and a carriage return
# written as backslash sequences. Nothing else is special.
_NULL_TEXT = "\\N"
_SPECIAL = re.compile(r"[\\\t\n\r]").search
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text_column(values: Sequence[Any]) -> list[str]:
    null, special, escapes = _NULL_TEXT, _SPECIAL, _ESCAPES
    return [
        null
        if v is None
        else (v if not special(v) else v.translate(escapes))
        if type(v) is str
        else _as_text(v)
        for v in values
    ]


def _as_text(value: Any) -> str:
    """A value that is not a plain str, as the csv module wrote it: a str subclass (an enum
    of str) by its own text, anything else by str(); escaped for COPY."""
    text = str.__str__(value) if isinstance(value, str) else str(value)
    return text.translate(_ESCAPES) if _SPECIAL(text) else text


def _json_column(values: Sequence[Any]) -> list[str]:
    # JSON text holds no tab, newline or carriage return (it writes them as escapes): only its
    # backslashes need doubling.
    null = _NULL_TEXT
    return [null if (j := _json(v)) is None else j.replace("\\", "\\\\") for v in values]


def _stamp_column(values: Sequence[Any]) -> list[str]:
    # A stamp's text once per object: most are the batch's one `now`, and str() of a datetime
    # costs more than the rest of a row's text. By identity, the object kept beside its text:
    # equal stamps may differ in their offset. PostgreSQL reads str()'s ISO form.
    stamps: dict[int, tuple[Any, str]] = {}
    texts = []
    for stamp in values:
        if stamp is None:
            texts.append(_NULL_TEXT)
            continue
        seen = stamps.get(id(stamp))
        if seen is None or seen[0] is not stamp:
            seen = stamps[id(stamp)] = (stamp, str(stamp))
        texts.append(seen[1])
    return texts


def _int_column(values: Sequence[Any]) -> list[str]:
    null = _NULL_TEXT
    return [null if v is None else str(v) if type(v) is int else _as_text(v) for v in values]


def _bool_column(values: Sequence[Any]) -> list[str]:
    # Anything but a bool goes as its text, for PostgreSQL to read (or refuse) as it did before.
    null = _NULL_TEXT
    return [null if v is None else "t" if v is True else "f" if v is False else _as_text(v) for v in values]


def _column_writer(column_type: sa.types.TypeEngine[Any]) -> Callable[[Sequence[Any]], list[str]]:
    if isinstance(column_type, sa.JSON):
        return _json_column
    if _is_stamp(column_type):
        return _stamp_column
    impl = getattr(column_type, "impl", column_type)
    if isinstance(impl, sa.Boolean):
        return _bool_column
    if isinstance(impl, sa.Integer):
        return _int_column
    return _text_column


def _copy_rows(
    table: sa.Table, rows: Iterable[Sequence[Any]], constants: Sequence[tuple[sa.Column[Any], Any]] = ()
) -> io.StringIO:
    """The rows (values in column order, then `constants`: a column and its value for every
    row) as COPY text.

    Written a column at a time: each column's values turned to text by one comprehension for
    its type, then the rows joined by `str.join` in C. JSON columns are encoded here; dates and
    stamps go as str(), which PostgreSQL reads. Measured on a batch of 5,000 customer source
    rows: 5.7 µs a row, where the csv module (COPY's csv format, every text value quoted and
    each quote of the JSON payload doubled) took 18 µs.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    buf = io.StringIO()
    if rows:
        texts = [
            _column_writer(column.type)(values)
            for column, values in zip(table.columns, zip(*rows, strict=True), strict=True)
        ]
        texts += [_column_writer(column.type)([value]) * len(rows) for column, value in constants]
        buf.write("\n".join(map("\t".join, zip(*texts, strict=True))))
        buf.write("\n")
    buf.seek(0)
    return buf


def stage(conn: sa.Connection, table: sa.Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """Create `table` afresh in this transaction and fill it with `rows` (by column name)."""
    names = [c.name for c in table.columns]
    stage_values(conn, table, ([row.get(n) for n in names] for row in rows))


def stage_values(conn: sa.Connection, table: sa.Table, rows: Iterable[Sequence[Any]]) -> None:
    """`stage` with each row's values in `table`'s column order: no dict per row to build.

    A JSON column takes a value to encode, or a `JsonText` already encoded.
    """
    names = [c.name for c in table.columns]
    if conn.dialect.name == "postgresql":
        # One round trip for both: each statement costs a batch's writer thread the wait to
        # take the GIL back from the thread mapping the next batch, up to the 5 ms switch interval.
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}; {_create_ddl(conn, table)}")
        copy_into(conn, table, rows)
        return
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
    table.create(conn)
    batch = [
        {n: json.loads(v) if type(v) is JsonText else v for n, v in zip(names, row, strict=True)}
        for row in rows
    ]
    if batch:
        conn.execute(table.insert(), batch)


def copy_into(
    conn: sa.Connection, layout: sa.Table, rows: Iterable[Sequence[Any]], into: sa.Table | None = None
) -> None:
    """COPY `rows` (values in `layout`'s column order) into the table `into` (default: `layout`
    itself), on PostgreSQL.

    `into` may be a table of the store: its columns missing from `layout` take their scalar
    defaults from the model, as with an INSERT naming `layout`'s columns (a column with a
    callable default must be in `layout`). A row the table refuses raises what an INSERT would
    (sqlalchemy's IntegrityError for a key taken meanwhile, so a batch is retried).
    """
    if not conn.in_transaction():
        # It writes on the driver's connection, which sqlalchemy does not see: begun here as a
        # statement would begin it, so the caller's commit takes the rows (else they were lost).
        conn.begin()
    names = [c.name for c in layout.columns]
    target = layout if into is None else into
    constants = _model_defaults(target, names)
    names += list(constants)
    buf = _copy_rows(layout, rows, [(target.c[name], value) for name, value in constants.items()])
    size = max(buf.seek(0, io.SEEK_END), 8192)
    buf.seek(0)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    dbapi: Any = conn.dialect.dbapi
    statement = f"COPY {target.name} ({', '.join(names)}) FROM STDIN"  # text format
    cur: Any = raw.cursor()
    try:
        # The whole buffer in one read: psycopg2 reads `size` characters at a time, each read
        # taking the GIL back from the thread mapping the next batch (up to the 5 ms switch
        # interval each); at its default 8 KiB a batch's payloads were hundreds of reads.
        cur.copy_expert(statement, buf, size=size)
    except dbapi.Error as exc:
        # The raw cursor bypasses sqlalchemy, which would have wrapped the driver's error.
        lost = conn.dialect.is_disconnect(exc, raw, cur)
        raise sa.exc.DBAPIError.instance(
            statement, None, exc, dbapi.Error, connection_invalidated=lost, dialect=conn.dialect
        ) from exc
    finally:
        cur.close()


def _model_defaults(table: sa.Table, given: list[str]) -> dict[str, Any]:
    """The model's scalar defaults of `table`'s columns not among `given` (column -> value)."""
    found: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if not getattr(default, "is_scalar", False):
            raise ValueError(
                f"COPY into {table.name} needs {column.name} given: its default is not a constant"
            )
        found[column.name] = default.arg  # type: ignore[attr-defined]
    return found


def _create_ddl(conn: sa.Connection, table: sa.Table) -> str:
    """`table`'s CREATE TABLE for `conn`'s dialect, compiled once per table object."""
    key = f"create_ddl_{conn.dialect.name}"
    ddl = table.info.get(key)
    if ddl is None:
        ddl = table.info[key] = str(CreateTable(table).compile(dialect=conn.dialect)).strip()
    return str(ddl)


# Up to this many rows go to PostgreSQL as one array per column (`array_rows`) instead of
# through a staging table: one statement instead of three round trips, for the few rows a
# re-import's batch changes. Beyond it, COPY into staging is cheaper (psycopg2 adapts arrays
# element by element: ~2.5x the csv module's time for a 5,000-row batch).
ARRAY_ROWS = 1000


def staged_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Sequence[Any]]) -> sa.FromClause:
    """The rows (values in `table`'s column order) as something to select from, under `table`'s
    column names: a staging table (`stage_values`), or on PostgreSQL for up to `ARRAY_ROWS` rows
    the arrays of `array_rows`. JSON values as `stage_values` takes them."""
    if conn.dialect.name == "postgresql" and len(rows) <= ARRAY_ROWS:
        return array_rows(table, rows)
    stage_values(conn, table, rows)
    return table


def array_rows(layout: sa.Table, rows: Sequence[Sequence[Any]]) -> sa.Subquery:
    """The rows as a subquery that unnests one array parameter per column (PostgreSQL).

    Its text is the same for any number of rows, so it compiles once. JSON columns go as text
    (a `JsonText` as it is) and are cast back.
    """
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in layout.columns]
    selected = []
    for column, values in zip(layout.columns, columns, strict=True):
        if isinstance(column.type, sa.JSON):
            kind: sa.types.TypeEngine[Any] = sa.Text()
            values = tuple(None if v is None else v if type(v) is JsonText else _json(v) for v in values)
        else:
            kind = column.type
        array = sa.bindparam(f"rows_{column.name}", list(values), type_=postgresql.ARRAY(kind))
        selected.append(sa.cast(sa.func.unnest(array), column.type).label(column.name))
    return sa.select(*selected).subquery(layout.name)


def drop(conn: sa.Connection, *tables: sa.Table) -> None:
    """Drop staging tables now (SQLite keeps temporary tables until the connection closes).

    On PostgreSQL nothing to do: a staging table is dropped at commit (`ON COMMIT DROP`), and
    `stage_values` drops one of the same name before creating it again in the same transaction.
    """
    if conn.dialect.name == "postgresql":
        return
    for table in tables:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
