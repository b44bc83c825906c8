"""The trigram indexes serve the `*_Icontains` filters and nothing else: an equality lookup of a
batch's e-mails goes to the btree (PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from models import get_engine

_CUSTOMERS = """
INSERT INTO customer (firstname, lastname, extra_info, loyalty_id, user_type,
    num_of_order_discounts_allowed, active, staff, admin, archived, verified, created_at,
    updated_at, email, phone_number)
SELECT 'F', 'L', '{}', 'L' || i, 'CONSUMER', 0, true, false, false, false, false, now(), now(),
    'person' || i || '@example.com', '+4930' || (1000000 + i)
FROM generate_series(1, 6000) AS i
"""


def _indexes(plan: Any) -> set[str]:
    """Every index a JSON plan names, at any depth."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(plan["Index Name"])
        for value in plan.values():
            found |= _indexes(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _indexes(value)
    return found


def _plan(conn: sa.Connection, sql: str, **params: Any) -> set[str]:
    (raw,) = conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"), params).one()
    return _indexes(raw if isinstance(raw, list) else json.loads(raw))


def test_a_batch_of_emails_is_looked_up_by_the_btree_and_a_search_by_the_trigram_index(
    pg_only_url: str,
) -> None:
    engine = get_engine(pg_only_url)
    with engine.begin() as conn:
        conn.execute(sa.text(_CUSTOMERS))
        conn.execute(sa.text("ANALYZE customer"))
    emails = [f"person{i}@example.com" for i in range(4000, 6000)]
    with engine.begin() as conn:
        # The loader's shape (`customers_for_emails`): pg_trgm's GIN class answers `=` as well,
        # and with statistics the planner preferred it here (15-33 s instead of ~5 ms).
        lookup = _plan(conn, "SELECT pk FROM customer WHERE email = ANY(:emails)", emails=emails)
        assert not [name for name in lookup if name.endswith("_trgm")]
        # A handful goes by the btree.
        few = _plan(conn, "SELECT pk FROM customer WHERE email = ANY(:emails)", emails=emails[:20])
        assert few == {"ix_customer_email"}
        # The API's searches are what the trigram indexes are for.
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        search = "SELECT pk FROM customer WHERE lower({}) LIKE lower(:term) ESCAPE '/'"
        by_email = _plan(conn, search.format("email"), term="%person12@%")
        by_phone = _plan(conn, search.format("phone_number"), term="%1000012%")
    assert "ix_customer_email_lower_trgm" in by_email
    assert "ix_customer_phone_number_lower_trgm" in by_phone
