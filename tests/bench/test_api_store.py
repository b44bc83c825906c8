"""The API benchmark's generated store: the people of the benchmark file, built once, then reused."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from bench.api_store import EMAIL_SQL, api_store, database_name, drop_store
from bench.exports import CUSTOMER_HEADER, customer_rows, email
from models import get_engine
from sync.mapping import normalize_email, normalize_phone
from tests.conftest import PG_ADMIN_URL

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

CUSTOMERS, ORDERS = 37, 2


def test_the_store_holds_the_files_people_and_is_reused_while_its_fingerprint_holds() -> None:
    prefix = f"cs_test_{uuid.uuid4().hex[:8]}_"
    built = api_store(PG_ADMIN_URL, CUSTOMERS, ORDERS, prefix=prefix)
    try:
        assert built.built
        assert built.counts == {
            "customer": CUSTOMERS,
            "customer_order": CUSTOMERS * ORDERS,
            "redemption": 2 * CUSTOMERS,
            "points_ledger": CUSTOMERS * ORDERS,
        }
        # The same e-mails and phones the project's import stores for the benchmark file, so
        # the same search terms find the same people.
        col = {name: i for i, name in enumerate(CUSTOMER_HEADER)}
        expected = {
            (row[col["email"]], normalize_phone(row[col["phone"]], row[col["country"]]))
            for row in customer_rows(CUSTOMERS)
        }
        with get_engine(built.url).connect() as conn:
            stored = {
                (r.email, r.phone_number)
                for r in conn.execute(sa.text("SELECT email, phone_number FROM customer"))
            }
            # Every secondary index the migrations made is there again after the bulk load.
            indexes = set(
                conn.execute(
                    sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'customer_order'")
                ).scalars()
            )
        assert stored == expected
        assert {"ix_order_customer_completed", "ix_order_store_completed", "ix_order_completed"} <= indexes

        again = api_store(PG_ADMIN_URL, CUSTOMERS, ORDERS, prefix=prefix)
        assert (again.database, again.built, again.counts) == (built.database, False, built.counts)
    finally:
        drop_store(PG_ADMIN_URL, built.database)
    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname LIKE :p"), {"p": prefix + "%"}
            ).scalar_one()
    finally:
        admin.dispose()
    assert left == 0


def test_the_generated_emails_are_the_files_at_any_index_and_all_distinct() -> None:
    # Past 40,000 people the addresses get numbers; the 37-customer store above never gets there.
    indexes = [0, 1, 99, 100, 9_999, 10_000, 39_999, 40_000, 40_001, 123_456, 999_999, 3_000_001]
    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            in_sql = (
                conn.execute(
                    sa.text(f"SELECT {EMAIL_SQL} FROM unnest(CAST(:i AS int[])) AS i"), {"i": indexes}
                )
                .scalars()
                .all()
            )
    finally:
        admin.dispose()
    assert in_sql == [email(i) for i in indexes]
    assert len({email(i) for i in range(200_000)}) == 200_000
    assert {normalize_email(email(i)) for i in indexes} == {email(i) for i in indexes}  # stored as written
    assert email(7, uniform=True) == "person7@example.com"
    assert [r[CUSTOMER_HEADER.index("email")] for r in customer_rows(2, uniform_emails=True)] == [
        "person0@example.com",
        "person1@example.com",
    ]


def test_the_uniform_emails_name_the_store_generator_version_1_built() -> None:
    # Stores built before the e-mails varied are still found (and measured) with uniform e-mails.
    assert database_name(1_000_000, 5, uniform_emails=True) == "cs_bench_api_1000000_5_18723f434484"
    assert database_name(1_000_000, 5) != database_name(1_000_000, 5, uniform_emails=True)
