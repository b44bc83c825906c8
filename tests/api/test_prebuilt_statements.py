"""Statements built once per viewer and shape: each viewer still reads only its own, with this request's values."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.auth import Viewer
from api.graphql.customers import ConsumerFilter, _customer
from api.graphql.orders import OrderFilter, _order_page_statements
from api.graphql.scope import Scope
from tests.api.builders import make_order, user_id
from tests.api.conftest import Api
from tests.api.test_merchant_scope import T0, _world

# What the benchmark sends: no `count`, so a consumer's three pages are read ahead in one statement.
CONSUMER = (
    "query ($id: ID!) { consumer(id: $id) { email"
    " redemptions { edges { node { pk } } } stampsRedemptions { edges { node { pk } } }"
    " pointsRedemptions { edges { node { pk } } } } }"
)
ORDERS = (
    "query ($id: ID, $from: DateTime) { orders(consumer_Id: $id, completedAt_Gte: $from) {"
    " edges { node { orderId } } pageInfo { hasNextPage } } }"
)


def _pks(connection: dict[str, list[dict[str, dict[str, int]]]]) -> list[int]:
    return [edge["node"]["pk"] for edge in connection["edges"]]


def test_two_merchants_asking_the_same_documents_in_turns_each_see_only_their_own(api: Api) -> None:
    w = _world(api)
    mine, theirs = api.token(w["mine"]), api.token(w["theirs"])
    redeemer, buyer, stranger = user_id(w["redeemer"]), user_id(w["buyer"]), user_id(w["stranger"])
    for _turn in range(2):
        # The redeemer redeemed once in each merchant's store: each merchant sees its own one.
        my_view = api.data(CONSUMER, {"id": redeemer}, token=mine)["consumer"]
        their_view = api.data(CONSUMER, {"id": redeemer}, token=theirs)["consumer"]
        assert len(_pks(my_view["redemptions"])) == len(_pks(their_view["redemptions"])) == 1
        assert _pks(my_view["redemptions"]) != _pks(their_view["redemptions"])
        assert _pks(my_view["pointsRedemptions"]) == _pks(my_view["redemptions"])
        assert _pks(their_view["stampsRedemptions"]) == []
        # The stranger shopped only in their store.
        assert api.data(CONSUMER, {"id": stranger}, token=mine) == {"consumer": None}
        assert (
            api.data(CONSUMER, {"id": stranger}, token=theirs)["consumer"]["email"] == "stranger@example.com"
        )
        # The buyer's orders: one in each store.
        for token, order in ((mine, "MY-1"), (theirs, "THEIR-1")):
            found = api.data(ORDERS, {"id": buyer}, token=token)["orders"]
            assert [e["node"]["orderId"] for e in found["edges"]] == [order]


def test_orders_of_one_shape_take_each_requests_values(api: Api) -> None:
    w = _world(api)
    admin = api.token(w["admin"])
    make_order(api.engine, w["buyer"], T0 + timedelta(days=2), order_id="LATER")

    def order_ids(consumer: int, since: str | None = None) -> list[str]:
        found = api.data(ORDERS, {"id": user_id(consumer), "from": since}, token=admin)["orders"]
        return [e["node"]["orderId"] for e in found["edges"]]

    # Newest first; the two at T0 by pk, newest first.
    assert order_ids(w["buyer"]) == ["LATER", "THEIR-1", "MY-1"]
    assert order_ids(w["stranger"]) == ["THEIR-2"]
    assert order_ids(w["buyer"], (T0 + timedelta(days=1)).isoformat()) == ["LATER"]
    assert order_ids(w["stranger"], (T0 + timedelta(days=1)).isoformat()) == []


def test_the_order_statements_are_built_once_per_viewer_and_filter_shape() -> None:
    staff = Scope(Viewer(pk=1, user_type="STAFF", staff=True, admin=False))
    merchant = Scope(Viewer(pk=2, user_type="MERCHANT", staff=False, admin=False, approved_merchant=True))
    one, other = OrderFilter(consumer_pk=5), OrderFilter(consumer_pk=6)

    assert one.shape == other.shape
    assert one.params == {"consumer_pk": 5}
    assert _order_page_statements(staff, one.shape) is _order_page_statements(staff, other.shape)
    assert _order_page_statements(staff, one.shape) is not _order_page_statements(merchant, one.shape)
    assert _order_page_statements(staff, one.shape) is not _order_page_statements(staff, OrderFilter().shape)


@given(st.text(max_size=30))
def test_an_email_term_is_bound_escaped_as_icontains_autoescape_binds_it(term: str) -> None:
    # What the statement built per request bound (`icontains(term, autoescape=True)`).
    expected = _customer.c.email.icontains(term, autoescape=True).compile().params
    shape, params = ConsumerFilter(email_icontains=term).bound()

    assert shape == (False, 0, bool(term))
    if term:
        assert list(expected.values()) == [params["email_term"]]


def test_consumers_of_one_shape_take_each_requests_values(api: Api) -> None:
    w = _world(api)
    admin = api.token(w["admin"])
    query = "query ($q: String) { consumers(email_Icontains: $q) { edges { node { pk } } } }"
    for _turn in range(2):
        for term, who in (("buyer@", "buyer"), ("stranger@", "stranger"), ("REDEEMER", "redeemer")):
            assert _pks(api.data(query, {"q": term}, token=admin)["consumers"]) == [w[who]]
        # Wildcards typed into the filter are matched literally.
        assert _pks(api.data(query, {"q": "%@"}, token=admin)["consumers"]) == []
        assert _pks(api.data(query, {"q": "b_yer"}, token=admin)["consumers"]) == []
