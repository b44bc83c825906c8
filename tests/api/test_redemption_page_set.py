"""Several redemption pages read at once (folded on PostgreSQL) equal each page read on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from api.auth import Viewer
from api.graphql.loaders import RedemptionPageKey, RowPage, redemption_page_set, redemption_pages
from api.graphql.relay import PageArgs
from api.graphql.scope import Scope
from models import Redemption
from tests.api.builders import make_customers, table

STAFF = Scope(Viewer(pk=0, user_type="STAFF", staff=True, admin=False))
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _seed(engine: Engine) -> list[int]:
    """Three customers with 0, 4 and 9 redemptions, kinds alternating, some at the same instant."""
    pks = make_customers(engine, 3)
    rows = [
        {
            "source": "test",
            "source_id": f"p{pk}-{i}",
            "customer_pk": pk,
            "kind": "POINTS" if i % 2 else "STAMPS",
            "points": 1,
            "stamps": 1,
            "content_hash": "",
            # Ties on created_at: the pk orders them (newest first, then the higher pk).
            "created_at": T0 + timedelta(hours=i // 2),
        }
        for pk, n in zip(pks, (0, 4, 9), strict=True)
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(table(Redemption).insert(), rows)
    return pks


_sizes = st.one_of(st.none(), st.integers(0, 6))
_cursors = st.one_of(st.none(), st.integers(0, 10))
pages = st.builds(
    PageArgs,
    first=_sizes,
    last=_sizes,
    before=_cursors,
    after=_cursors,
    offset=st.integers(0, 4),
).filter(lambda p: p.first is not None or p.last is not None)


def _plain(found: dict[RedemptionPageKey, RowPage]) -> dict[RedemptionPageKey, tuple[list[int], int, int]]:
    return {k: ([r.pk for r in v.rows], v.count, v.start) for k, v in found.items()}


def test_folded_pages_equal_the_pages_read_one_by_one(engine: Engine) -> None:
    pks = _seed(engine)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        st.lists(
            st.builds(
                RedemptionPageKey,
                customer_pk=st.sampled_from([*pks, 10**6]),
                kind=st.sampled_from([None, "STAMPS", "POINTS"]),
                page=pages,
                with_count=st.booleans(),
            ),
            min_size=1,
            max_size=5,
        )
    )
    def check(keys: list[RedemptionPageKey]) -> None:
        with engine.connect() as conn:
            together = redemption_page_set(conn, STAFF, keys)
            # The plain way: count, then read the window (what a page selecting `count` does).
            alone = {
                key: redemption_pages(conn, STAFF, [key.customer_pk], key.kind, key.page, True)[
                    key.customer_pk
                ]
                for key in keys
            }
        assert set(together) == set(keys)
        got, want = _plain(together), _plain(alone)
        for key in keys:
            rows, count, start = want[key]
            if not key.with_count:
                # Uncounted pages give the smallest total consistent with the page: only
                # hasNextPage (start + len(rows) < count) and the rows must agree.
                g_rows, g_count, g_start = got[key]
                assert (g_rows, g_start) == (rows, start), key
                assert (g_start + len(g_rows) < g_count) == (start + len(rows) < count), key
            else:
                assert got[key] == want[key], key

    check()
