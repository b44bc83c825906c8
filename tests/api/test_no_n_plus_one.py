"""Listing 100 consumers with their three redemption connections runs a bounded number of statements."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from models import Redemption, get_read_engine
from tests.api.builders import book_points, make_customers, table
from tests.api.conftest import Api

QUERY = """
query {
  consumers(first: 100) {
    count
    edges { node { pk pointsEarned
      redemptions(first: 5) { count edges { node { id createdAt } } }
      stampsRedemptions { count edges { node { id createdAt } } }
      pointsRedemptions(last: 2) { count edges { node { id createdAt } } }
    } }
  }
}"""


@contextmanager
def counting_statements(*engines: Engine) -> Iterator[list[str]]:
    statements: list[str] = []
    lock = threading.Lock()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        with lock:
            statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


def test_listing_100_consumers_with_three_redemption_connections_is_a_bounded_query_count(api: Api) -> None:
    staff = api.staff_token()
    pks = make_customers(api.engine, 100)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {
            "source": "test",
            "source_id": f"n{pk}-{i}",
            "customer_pk": pk,
            "kind": "POINTS" if i % 2 else "STAMPS",
            "points": 1,
            "stamps": 1,
            "content_hash": "",
            "created_at": t0 + timedelta(hours=i),
        }
        for pk in pks
        for i in range(pk % 7)
    ]
    with api.engine.begin() as conn:
        conn.execute(table(Redemption).insert(), rows)
    book_points(api.engine, pks[0], 5)

    # The API reads through its own pool (models.get_read_engine) and writes through the other.
    with counting_statements(api.engine, get_read_engine(api.settings.database_url)) as statements:
        data = api.data(QUERY, token=staff)

    nodes = [e["node"] for e in data["consumers"]["edges"]]
    assert len(nodes) == 100
    assert data["consumers"]["count"] == 101  # the 100 and the staff member asking
    for node in nodes:
        # Customer pk has pk % 7 redemptions, alternately STAMPS (even i) and POINTS (odd i).
        total = node["pk"] % 7 if node["pk"] in pks else 0
        points, stamps = total // 2, total - total // 2
        assert node["redemptions"]["count"] == total
        assert len(node["redemptions"]["edges"]) == min(total, 5)
        assert node["pointsRedemptions"]["count"] == points
        assert len(node["pointsRedemptions"]["edges"]) == min(points, 2)
        assert node["stampsRedemptions"]["count"] == stamps
        assert len(node["stampsRedemptions"]["edges"]) == stamps
        assert node["pointsEarned"] == (5 if node["pk"] == pks[0] else 0)
    assert len({n["pk"] for n in nodes} & set(pks)) >= 99  # the page is (nearly) all the seeded customers
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    # viewer + count + page + points + 3 connections x (count + page) = 10, whatever the page size.
    assert len(selects) <= 10, selects
