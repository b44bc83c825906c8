"""The API benchmark's store: customers and their orders generated set-wise in PostgreSQL, kept between runs."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

import models
from bench.exports import EMAIL_DOMAINS, EMAIL_FAMILY, EMAIL_GIVEN, EMAIL_UNNUMBERED
from models import get_engine
from models.db import current_revision, head_revision

# Bump when the generated data changes shape: the fingerprint then names a new store.
# (Version 2: varied e-mails; `uniform_emails` still builds, and finds, the version-1 store.)
GENERATOR_VERSION = 2
PREFIX = "cs_bench_api_"
ADMIN_LOYALTY_ID = "BENCHADMIN"


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


# bench.exports.email(i) in SQL (`i` a bigint): set-wise, so a million addresses take seconds.
EMAIL_SQL = (
    f"CASE i / {len(EMAIL_GIVEN) * len(EMAIL_FAMILY)} % 4"
    f" WHEN 0 THEN ({_array(EMAIL_GIVEN)})[1 + i % {len(EMAIL_GIVEN)}] || '.'"
    f" || ({_array(EMAIL_FAMILY)})[1 + i / {len(EMAIL_GIVEN)} % {len(EMAIL_FAMILY)}]"
    f" WHEN 1 THEN ({_array(EMAIL_GIVEN)})[1 + i % {len(EMAIL_GIVEN)}]"
    f" || ({_array(EMAIL_FAMILY)})[1 + i / {len(EMAIL_GIVEN)} % {len(EMAIL_FAMILY)}]"
    f" WHEN 2 THEN ({_array(EMAIL_GIVEN)})[1 + i % {len(EMAIL_GIVEN)}] || '_'"
    f" || ({_array(EMAIL_FAMILY)})[1 + i / {len(EMAIL_GIVEN)} % {len(EMAIL_FAMILY)}]"
    f" ELSE ({_array(EMAIL_FAMILY)})[1 + i / {len(EMAIL_GIVEN)} % {len(EMAIL_FAMILY)}] || '.'"
    f" || ({_array(EMAIL_GIVEN)})[1 + i % {len(EMAIL_GIVEN)}] END"
    f" || CASE WHEN i >= {EMAIL_UNNUMBERED} THEN (i / {EMAIL_UNNUMBERED})::text ELSE '' END"
    f" || '@' || ({_array(EMAIL_DOMAINS)})[1 + i / 7 % {len(EMAIL_DOMAINS)}]"
)
# The addresses of generator version 1, kept to measure the worst case (bench/README.md).
UNIFORM_EMAIL_SQL = "'person' || i || '@example.com'"

# The people of bench/exports.customer_rows, as the import stores them: the same e-mails, the
# phones of that file in E.164, so the same search terms find the same customers.
_CUSTOMERS = """
INSERT INTO customer (loyalty_id, email, firstname, lastname, phone_number, birthday, gender, country,
    city, street, zip_code, user_type, num_of_order_discounts_allowed, entity_source, entity_source_id,
    active, staff, admin, archived, verified, extra_info, created_at, updated_at)
SELECT 'LB' || lpad(i::text, 10, '0'),
    {email},
    (ARRAY['Ada','Bob','Chloé','Dmitri','Eve','Fatima','Günter','Hana','Ivan','José','Kai','Lena'])[1 + i % 12],
    (ARRAY['Lovelace','Smith','Müller','O''Brien','García','Nguyen','Kowalski','Rossi','Tanaka'])[1 + (i / 12) % 9],
    CASE i % 3
        WHEN 0 THEN '+44207' || lpad(((i / 10000) % 1000)::text, 3, '0') || lpad((i % 10000)::text, 4, '0')
        WHEN 1 THEN '+4930' || (2000000 + i % 7999999)
        ELSE '+1212' || (200 + (i / 10000) % 800) || lpad((i % 10000)::text, 4, '0')
    END,
    make_date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
    (ARRAY['FEMALE', 'MALE', NULL, 'OTHER'])[1 + i % 4],
    (ARRAY['GB', 'DE', 'US'])[1 + i % 3],
    (ARRAY['London', 'Berlin', 'New York'])[1 + i % 3],
    (1 + (i * 7 + 13) % 200) || CASE WHEN i % 3 = 0 THEN ' Hauptstraße' ELSE ' High Street' END,
    (10000 + i % 89999)::text,
    'CONSUMER', 0, 'CSV', (1000000 + i)::text,
    true, false, false, false, false, '{}', now(), now()
FROM generate_series(0, :n - 1) AS i
"""

_STORES = "INSERT INTO store (name, created_at) SELECT 'Store ' || g, now() FROM generate_series(1, 10) g"
_ORDER_TYPES = "INSERT INTO order_type (name) VALUES ('DINE_IN'), ('TAKE_AWAY'), ('ONLINE')"
_ORDERS = """
INSERT INTO customer_order (source, source_id, order_id, customer_pk, store_pk, order_type_pk, completed_at,
    payment_type, total, currency, content_hash, extra_info, created_at, updated_at)
SELECT 'bench', c.pk || '-' || g, 'O' || c.pk || '-' || g, c.pk, 1 + (c.pk + g) % 10, 1 + g % 3,
    now() - make_interval(days => (c.pk * 7 + g * 13) % 700), 'CARD', ((c.pk * 31 + g * 17) % 10000) / 100.0,
    'EUR', '', '{}', now(), now()
FROM customer c CROSS JOIN generate_series(1, :k) g
WHERE c.loyalty_id LIKE 'LB%'
"""
_LEDGER = """
INSERT INTO points_ledger (source, source_id, customer_pk, delta, reason, order_pk, created_at)
SELECT 'bench', o.source_id, o.customer_pk, 10, 'order', o.pk, o.completed_at FROM customer_order o
"""
_REDEMPTIONS = """
INSERT INTO redemption (source, source_id, customer_pk, kind, points, stamps, content_hash, created_at)
SELECT 'bench', c.pk || '-' || g, c.pk, CASE WHEN g = 1 THEN 'POINTS' ELSE 'STAMPS' END, 5, 1, '',
    now() - make_interval(days => g)
FROM customer c CROSS JOIN generate_series(1, 2) g
WHERE c.loyalty_id LIKE 'LB%'
"""
TABLES = ("customer", "store", "order_type", "customer_order", "points_ledger", "redemption")


@dataclass(frozen=True, slots=True)
class ApiStore:
    """A generated store: where it is, what it holds, and whether this run built it."""

    url: str
    database: str
    counts: dict[str, int]
    built: bool
    seconds: float


def _customers(uniform_emails: bool) -> str:
    return _CUSTOMERS.replace("{email}", UNIFORM_EMAIL_SQL if uniform_emails else EMAIL_SQL)


def fingerprint(customers: int, orders_per_customer: int, uniform_emails: bool = False) -> str:
    """What the store holds: the generator and the sizes (the schema is brought to head on reuse)."""
    text = "\n".join(
        (
            # The uniform addresses hash as version 1 did: a store built then is still found.
            "1" if uniform_emails else str(GENERATOR_VERSION),
            str(customers),
            str(orders_per_customer),
            _customers(uniform_emails),
            _ORDERS,
            _LEDGER,
            _REDEMPTIONS,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def database_name(
    customers: int, orders_per_customer: int, prefix: str = PREFIX, uniform_emails: bool = False
) -> str:
    return (
        f"{prefix}{customers}_{orders_per_customer}_"
        f"{fingerprint(customers, orders_per_customer, uniform_emails)}"
    )


def _exists(admin: sa.Engine, name: str) -> bool:
    with admin.connect() as conn:
        return bool(
            conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        )


def _secondary_indexes(conn: sa.Connection) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of the generated tables that no constraint owns."""
    rows = conn.execute(
        sa.text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i"
            " WHERE i.schemaname = 'public' AND i.tablename = ANY(:tables)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ),
        {"tables": list(TABLES)},
    )
    return [(r.indexname, r.indexdef) for r in rows]


def _fill(
    url: str, customers: int, orders_per_customer: int, uniform_emails: bool, say: Callable[[str], None]
) -> None:
    """Generate every row set-wise, with the secondary indexes built once at the end (as a bulk load does)."""
    engine = get_engine(url)
    with engine.begin() as conn:
        run = conn.execute
        # This session only: big sorts for the index builds, no wait for the WAL flush per statement.
        run(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
        run(sa.text("SET LOCAL synchronous_commit = off"))
        if conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one():
            # The rows are consistent by construction: no per-row foreign-key trigger (millions).
            run(sa.text("SET LOCAL session_replication_role = replica"))
        indexes = _secondary_indexes(conn)
        for name, _definition in indexes:
            run(sa.text(f'DROP INDEX "{name}"'))
        steps = (
            ("customers", _customers(uniform_emails), {"n": customers}),
            ("stores and order types", _STORES, {}),
            ("", _ORDER_TYPES, {}),
            ("orders", _ORDERS, {"k": orders_per_customer}),
            ("points ledger", _LEDGER, {}),
            ("redemptions", _REDEMPTIONS, {}),
        )
        for label, statement, params in steps:
            if label:
                say(f"api store: {label}")
            run(sa.text(statement), params)
        say(f"api store: {len(indexes)} indexes")
        for _name, definition in indexes:
            run(sa.text(definition))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        say("api store: VACUUM ANALYZE")
        conn.execute(sa.text("VACUUM ANALYZE"))


def counts(url: str) -> dict[str, int]:
    """Rows per table the API reads (customers without the benchmark's staff reader)."""
    with get_engine(url).connect() as conn:
        found = {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("customer", "customer_order", "redemption", "points_ledger")
        }
        admins = conn.execute(
            sa.text("SELECT count(*) FROM customer WHERE loyalty_id = :lid"), {"lid": ADMIN_LOYALTY_ID}
        ).scalar_one()
    found["customer"] -= int(admins)
    return found


def api_store(
    admin_url: str,
    customers: int,
    orders_per_customer: int,
    *,
    keep: bool = True,
    prefix: str = PREFIX,
    progress: Callable[[str], None] | None = None,
    uniform_emails: bool = False,
) -> ApiStore:
    """The store of this size: reused when a previous run left it (and migrated to head), else built.

    Built under a temporary name and renamed when complete, so an interrupted build is never
    mistaken for a store; a lock keeps two runs from building the same one at once. `keep=False`
    builds a throw-away store under a name of its own (`drop_store` removes it). `uniform_emails`:
    every address `person<i>@example.com`, the search's worst case (bench/README.md).
    """
    say = progress or (lambda _msg: None)
    name = database_name(customers, orders_per_customer, prefix, uniform_emails)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    started = time.perf_counter()
    built = False
    try:
        if not keep:
            name = f"{name}_{hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:6]}"
        with admin.connect() as lock:
            lock.execute(sa.text("SELECT pg_advisory_lock(hashtext(:n))"), {"n": name})
            try:
                if not _exists(admin, name):
                    building = f"{name}_building"
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)'))
                        conn.execute(sa.text(f'CREATE DATABASE "{building}"'))
                    url = admin.url.set(database=building).render_as_string(hide_password=False)
                    say(
                        f"api store: building {customers:,} customers x {orders_per_customer} orders ({name})"
                    )
                    try:
                        models.upgrade(url)
                        _fill(url, customers, orders_per_customer, uniform_emails, say)
                    finally:
                        get_engine(url).dispose()
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))
                    built = True
                else:
                    say(f"api store: reusing {name}")
            finally:
                lock.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:n))"), {"n": name})
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        engine = get_engine(url)
        if current_revision(engine) != head_revision(url):
            # A store left by an older checkout gets the new migrations, as production would.
            say("api store: migrating to head")
            models.upgrade(url)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE"))
        return ApiStore(url, name, counts(url), built, time.perf_counter() - started)
    finally:
        admin.dispose()


def drop_store(admin_url: str, database: str) -> None:
    """Remove a generated store (`python -m bench.api --drop`, or a throw-away one)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        url = admin.url.set(database=database).render_as_string(hide_password=False)
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        admin.dispose()
