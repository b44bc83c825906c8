"""Batches move set-wise: COPY (PostgreSQL) or executemany (SQLite) into staging, and a number of
statements per batch that does not grow with the batch size."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import psycopg2.extensions
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import CustomerSource, get_engine
from models._types import UTCDateTime
from sync.load import staging
from sync.load.staging import copy_into
from tests.conftest import truncate_all
from tests.sync.helpers import golden_view, run_csv, table_rows

_COPY_TARGET = re.compile(r"^\s*COPY\s+(\w+)", re.IGNORECASE)
_INSERT_TARGET = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)


@dataclass
class Observed:
    """What reached the database driver during an import."""

    statements: list[str] = field(default_factory=list)
    # Rows that arrived through COPY, per table (psycopg2's rowcount after `copy_expert`).
    copied: Counter[str] = field(default_factory=Counter)
    # Rows that arrived through one executemany call, per table, and how many such calls.
    executemany_rows: Counter[str] = field(default_factory=Counter)
    executemany_calls: Counter[str] = field(default_factory=Counter)


@contextmanager
def observe(url: str) -> Iterator[Observed]:
    """Record statements, COPY traffic and executemany batches on the store's engine.

    COPY runs on a raw DB-API cursor that SQLAlchemy's statement events never see, so on
    PostgreSQL every connection checked out meanwhile gets a real psycopg2 cursor subclass
    that counts the rows its `copy_expert` loads.
    """
    seen = Observed()
    engine = get_engine(url)

    class CopyCountingCursor(psycopg2.extensions.cursor):
        def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> None:
            super().copy_expert(sql, file, size)
            match = _COPY_TARGET.match(str(sql))
            assert match, sql
            seen.copied[match.group(1)] += self.rowcount

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        seen.statements.append(statement)
        match = _INSERT_TARGET.match(statement)
        if executemany and match:
            seen.executemany_calls[match.group(1)] += 1
            seen.executemany_rows[match.group(1)] += len(parameters)

    def on_checkout(dbapi_conn: Any, *_: Any) -> None:
        if isinstance(dbapi_conn, psycopg2.extensions.connection):
            dbapi_conn.cursor_factory = CopyCountingCursor

    def on_checkin(dbapi_conn: Any, *_: Any) -> None:
        if isinstance(dbapi_conn, psycopg2.extensions.connection):
            dbapi_conn.cursor_factory = None

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "checkin", on_checkin)


def _customers(url: str) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM customer")).scalar_one())


def _batch_work(statements: list[str]) -> list[str]:
    """The statements but those of `PlannerStatistics`, which depend on how much a table grew."""
    ours = ("ANALYZE ", "SET LOCAL lock_timeout", "SELECT relname, relpages")
    return [s for s in statements if not s.startswith(ours)]


def test_postgres_batches_arrive_by_copy_with_a_fixed_number_of_statements(
    pg_only_url: str, tmp_path: Path
) -> None:
    small = write_csv(tmp_path / "small.csv", SHOPIFY_HEADER, shopify_rows(50, seed=1))
    large = write_csv(tmp_path / "large.csv", SHOPIFY_HEADER, shopify_rows(3000, start=100, seed=1))
    # The source holds a row before both: a first import into a source the store has never
    # seen skips the lookup of unchanged rows (one statement fewer).
    run_csv(pg_only_url, write_csv(tmp_path / "one.csv", SHOPIFY_HEADER, shopify_rows(1, start=9000, seed=1)))
    with observe(pg_only_url) as few:
        run_csv(pg_only_url, small, batch_size=5000)
    with observe(pg_only_url) as many:
        run_csv(pg_only_url, large, batch_size=5000)

    # Every new customer and its source row came by COPY straight into its table, in one batch
    # each (no staging table for what is new); the seen keys in one INSERT of two arrays.
    assert many.copied == {"customer_source": 3000, "customer": 3000}
    assert few.copied == {"customer_source": 50, "customer": 50}
    seen_inserts = [s for s in many.statements if s.startswith("INSERT INTO sync_seen")]
    assert len(seen_inserts) == 1 and "unnest" in seen_inserts[0]
    assert not many.executemany_calls  # nothing row-shaped went by executemany instead
    # 60 times the rows, the same statements, and few of them; beside them, the planner's
    # statistics of the tables the large file grew past what it last saw (one ANALYZE each).
    assert len(_batch_work(many.statements)) == len(_batch_work(few.statements)) < 60
    analyzed = [s.split(" (")[0] for s in many.statements if s.startswith("ANALYZE")]
    assert len(analyzed) == len(set(analyzed)) and "ANALYZE customer_source" in analyzed
    # INSERT … SELECT from staging; the run's lease is one row, claimed with VALUES.
    upserts = [s for s in many.statements if "ON CONFLICT" in s and not s.startswith("INSERT INTO run_lease")]
    assert upserts and all("SELECT" in s for s in upserts)
    assert _customers(pg_only_url) == 3051


def test_sqlite_batches_arrive_by_executemany_with_a_fixed_number_of_statements(
    sqlite_url: str, tmp_path: Path
) -> None:
    truncate_all(get_engine(sqlite_url))
    small = write_csv(tmp_path / "small.csv", SHOPIFY_HEADER, shopify_rows(50, seed=1))
    large = write_csv(tmp_path / "large.csv", SHOPIFY_HEADER, shopify_rows(2000, start=100, seed=1))
    run_csv(sqlite_url, write_csv(tmp_path / "one.csv", SHOPIFY_HEADER, shopify_rows(1, start=9000, seed=1)))
    with observe(sqlite_url) as few:
        run_csv(sqlite_url, small, batch_size=5000)
    with observe(sqlite_url) as many:
        run_csv(sqlite_url, large, batch_size=5000)

    # One executemany per staging table per batch, carrying every row of the batch.
    staged = {"stage_source": 2000, "stage_new_customer": 2000, "stage_seen": 2000}
    assert {t: n for t, n in many.executemany_rows.items() if t.startswith("stage_")} == staged
    assert {t: n for t, n in many.executemany_calls.items() if t.startswith("stage_")} == dict.fromkeys(
        staged, 1
    )
    assert len(many.statements) == len(few.statements) < 60
    assert _customers(sqlite_url) == 2051


def test_a_copy_into_a_key_another_run_took_is_an_integrity_error(pg_only_url: str, tmp_path: Path) -> None:
    """What the batch retry catches: a source row stored meanwhile by another run fails the COPY
    as sqlalchemy's IntegrityError (the upsert it replaces overwrote that row instead, leaving the
    customer made for it without a source row)."""
    run_csv(pg_only_url, write_csv(tmp_path / "one.csv", SHOPIFY_HEADER, shopify_rows(1, start=9000, seed=1)))
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    with get_engine(pg_only_url).connect() as conn:
        stored = conn.execute(sa.select(cs)).mappings().one()
    layout = sa.Table(
        "taken", sa.MetaData(), *(sa.Column(c.name, c.type) for c in cs.columns if c.name != "pk")
    )
    again = [stored[c.name] for c in layout.columns]
    with (
        pytest.raises(sa.exc.IntegrityError, match="uq_customer_source_key"),
        get_engine(pg_only_url).begin() as conn,
    ):
        copy_into(conn, layout, [again], into=cs)


def _stored(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden records and the source rows, without what is generated (pks, ids, stamps)."""
    sources = {
        r["source_id"]: (r["payload"], r["content_hash"], r["raw_hash"], r["deleted"], r["modstamp"])
        for r in table_rows(url, "customer_source")
    }
    return golden_view(url), sources


@pytest.mark.parametrize("changed", [40, 1500])
def test_a_few_changed_rows_sent_as_arrays_store_what_a_staging_table_stores(
    pg_only_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: int
) -> None:
    first = write_csv(tmp_path / "first.csv", SHOPIFY_HEADER, shopify_rows(1500, seed=1))
    rows = list(shopify_rows(1500, seed=1))
    rows[:changed] = shopify_rows(changed, seed=2)  # new streets, totals, tags
    email = SHOPIFY_HEADER.index("Email")
    for k in range(0, 20, 2):  # ten pairs of customers exchange their addresses
        rows[k][email], rows[k + 1][email] = rows[k + 1][email], rows[k][email]
    later = write_csv(tmp_path / "later.csv", SHOPIFY_HEADER, iter(rows))
    results = []
    for limit in (0, 10_000):  # every write through staging, then every write as arrays
        truncate_all(get_engine(pg_only_url))
        monkeypatch.setattr(staging, "ARRAY_ROWS", limit)
        run_csv(pg_only_url, first)
        with observe(pg_only_url) as seen:
            summary = run_csv(pg_only_url, later)
        assert summary.status == "succeeded", summary.error
        staged = [s for s in seen.statements if "CREATE TEMPORARY TABLE" in s]
        assert bool(staged) == (limit == 0), staged
        results.append((summary.counts, _stored(pg_only_url)))
    (through_staging, stored_staging), (as_arrays, stored_arrays) = results
    assert through_staging == as_arrays
    assert through_staging["updated"] >= changed
    assert stored_staging == stored_arrays
    golden, _ = stored_arrays
    assert golden["person1@example.com"]["entity_source_id"] == "1000000"  # the exchange took


def test_a_copy_as_the_first_statement_of_a_connection_is_committed_with_it(
    pg_only_url: str, request: pytest.FixtureRequest
) -> None:
    """The COPY runs on the driver's connection: it begins the transaction itself, so the
    caller's commit takes its rows (a review found them rolled back on return to the pool)."""
    engine = get_engine(pg_only_url)
    table = sa.Table("copied", sa.MetaData(), sa.Column("name", sa.String))
    table.create(engine)
    request.addfinalizer(lambda: table.drop(engine))  # not a table of the store's schema
    with engine.connect() as conn:
        copy_into(conn, table, [["first"]])
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(sa.select(table.c.name)).scalars().all() == ["first"]


def test_stamps_are_copied_as_each_one_reads(pg_only_url: str, request: pytest.FixtureRequest) -> None:
    """Stamp texts are made once per object: a batch's one `now` repeated, equal instants in
    other offsets, naive ones and NULL all land as each value alone would."""
    engine = get_engine(pg_only_url)
    table = sa.Table(
        "stamped",
        sa.MetaData(),
        sa.Column("n", sa.Integer),
        sa.Column("aware", UTCDateTime()),
        sa.Column("local", sa.DateTime(timezone=False)),
    )
    table.create(engine)
    request.addfinalizer(lambda: table.drop(engine))
    now = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
    berlin = now.astimezone(timezone(timedelta(hours=1)))  # == now, other text
    rows = [
        [1, now, now.replace(tzinfo=None)],
        [2, now, berlin],  # timestamp without time zone keeps the wall clock: 13:00
        [3, berlin, None],
        [4, None, now.replace(tzinfo=None)],
    ]
    with engine.begin() as conn:
        copy_into(conn, table, rows)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(table).order_by(table.c.n)).all()
    noon = now.replace(tzinfo=None)
    assert [tuple(r) for r in stored] == [
        (1, now, noon),
        (2, now, noon.replace(hour=13)),
        (3, now, None),
        (4, None, noon),
    ]


def _copied_back(engine: sa.Engine, table: sa.Table, rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    with engine.begin() as conn:
        conn.execute(table.delete())
        copy_into(conn, table, rows)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.n))]


def _every_kind(*more: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        "every_kind",
        sa.MetaData(),
        sa.Column("n", sa.Integer),
        sa.Column("text", sa.String),
        sa.Column("flag", sa.Boolean),
        sa.Column("day", sa.Date),
        sa.Column("doc", sa.JSON),
        *more,
    )


_EVERY_KIND = _every_kind(sa.Column("kept", sa.Boolean, default=True))  # COPY adds the default


def test_copy_text_keeps_every_value_as_written(pg_only_url: str, request: pytest.FixtureRequest) -> None:
    """COPY's text format: the characters it treats specially (backslash, tab, newline, carriage
    return, and `\\N` as text) land as written; an empty string is not NULL; JSON holding them
    (already encoded as `JsonText`, or a value to encode) reads back equal."""
    engine = get_engine(pg_only_url)
    layout = sa.Table(
        "every_kind", sa.MetaData(), *(c._copy() for c in _EVERY_KIND.columns if c.name != "kept")
    )
    _EVERY_KIND.create(engine)
    request.addfinalizer(lambda: _EVERY_KIND.drop(engine))
    tricky = 'a\\b\tc\nd\re "q" \\N, ü 😀'
    doc = {"street": "1 Main St\nFlat 2", "note": 'back\\slash "quoted"\ttab', "n": 1}
    rows = [
        [1, tricky, True, date(2024, 2, 29), doc],
        [2, "", False, None, staging.JsonText('{"a":"x\\\\y\\n"}')],
        [3, "\\N", None, date(1900, 1, 1), None],
        [4, None, True, None, {}],
    ]
    with engine.begin() as conn:
        copy_into(conn, layout, rows, into=_EVERY_KIND)
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.select(_EVERY_KIND).order_by(_EVERY_KIND.c.n))]
    assert stored == [
        (1, tricky, True, date(2024, 2, 29), doc, True),
        (2, "", False, None, {"a": "x\\y\n"}, True),
        (3, "\\N", None, date(1900, 1, 1), None, True),
        (4, None, True, None, {}, True),
    ]


@pytest.fixture
def any_text_table(pg_only_url: str) -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = get_engine(pg_only_url)
    table = sa.Table(
        "any_text",
        sa.MetaData(),
        sa.Column("n", sa.Integer),
        sa.Column("t", sa.String),
        sa.Column("j", sa.JSON),
    )
    table.create(engine)
    yield engine, table
    table.drop(engine)


@given(
    texts=st.lists(
        st.one_of(
            st.none(), st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
        ),
        min_size=1,
        max_size=20,
    )
)
@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_survives_copy(any_text_table: tuple[sa.Engine, sa.Table], texts: list[str | None]) -> None:
    """Whatever a cell holds (but NUL, which no text column stores), COPY stores it as it is,
    in a text column and inside JSON."""
    engine, table = any_text_table
    rows = [[i, t, None if t is None else {"v": t}] for i, t in enumerate(texts)]
    assert _copied_back(engine, table, rows) == [
        (i, t, None if t is None else {"v": t}) for i, t in enumerate(texts)
    ]


class _Kind(str, Enum):  # noqa: UP042  # the old spelling, whose str() is `_Kind.A`
    A = "a"


def test_values_of_other_types_are_copied_as_their_text(
    pg_only_url: str, request: pytest.FixtureRequest
) -> None:
    """As the csv format wrote them: an enum of str by its value (not `_Kind.A`), a number in a
    text column as its digits, a flag given as text read (or refused) by PostgreSQL."""
    engine = get_engine(pg_only_url)
    table = _every_kind()
    table.create(engine)
    request.addfinalizer(lambda: table.drop(engine))
    rows: list[list[Any]] = [
        [1, _Kind.A, "false", None, None],
        [2, 12, "0", None, None],
        [3, "x\ty", "yes", None, None],
    ]
    assert _copied_back(engine, table, rows) == [
        (1, "a", False, None, None),
        (2, "12", False, None, None),
        (3, "x\ty", True, None, None),
    ]
    with pytest.raises(sa.exc.DataError):
        _copied_back(engine, table, [[4, "", "", None, None]])
