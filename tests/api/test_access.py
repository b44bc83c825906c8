"""Access rules: a consumer sees only itself and its own orders; staff and admins see all.

What a merchant sees (its stores' customers) is in test_merchant_scope.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api.builders import make_customer, make_order, make_promotion, user_id
from tests.api.conftest import Api

CONSUMER = "query ($id: ID!) { consumer(id: $id) { pk email } }"
ORDERS = "query ($id: ID) { orders(consumer_Id: $id) { count edges { node { orderId } } } }"
LIST = "query { consumers { count edges { node { pk } } } }"
PROMOS = "query ($email: String) { consumerAvailablePromotions(consumerEmail: $email) { count } }"


def test_a_consumer_sees_only_itself(api: Api) -> None:
    me = make_customer(api.engine, email="me@example.com")
    other = make_customer(api.engine, email="other@example.com")
    token = api.token(me)

    assert api.data(LIST, token=token)["consumers"] == {"count": 1, "edges": [{"node": {"pk": me}}]}
    assert api.data(CONSUMER, {"id": user_id(me)}, token=token)["consumer"]["pk"] == me
    # Another consumer answers exactly as a customer that does not exist.
    assert api.data(CONSUMER, {"id": user_id(other)}, token=token) == {"consumer": None}
    assert api.data(CONSUMER, {"id": user_id(99999)}, token=token) == {"consumer": None}


def test_a_consumer_sees_only_its_own_orders_and_promotions(api: Api) -> None:
    me = make_customer(api.engine, email="me@example.com")
    other = make_customer(api.engine, email="other@example.com")
    make_order(api.engine, me, datetime(2024, 1, 1, tzinfo=UTC), order_id="MINE")
    make_order(api.engine, other, datetime(2024, 1, 2, tzinfo=UTC), order_id="THEIRS")
    make_promotion(api.engine, "For all")
    token = api.token(me)

    assert api.data(ORDERS, {"id": user_id(other)}, token=token)["orders"] == {"count": 0, "edges": []}
    assert api.data(ORDERS, {}, token=token)["orders"]["edges"] == [{"node": {"orderId": "MINE"}}]
    assert (
        api.data(PROMOS, {"email": "other@example.com"}, token=token)["consumerAvailablePromotions"]["count"]
        == 0
    )
    assert api.data(PROMOS, {}, token=token)["consumerAvailablePromotions"]["count"] == 1


@pytest.mark.parametrize("viewer", [{"staff": True}, {"admin": True, "user_type": "ADMIN"}])
def test_staff_and_admins_see_everyone(api: Api, viewer: dict[str, object]) -> None:
    a = make_customer(api.engine)
    b = make_customer(api.engine)
    make_order(api.engine, a, datetime(2024, 1, 1, tzinfo=UTC))
    make_order(api.engine, b, datetime(2024, 1, 1, tzinfo=UTC))
    token = api.token(make_customer(api.engine, **viewer))

    assert api.data(LIST, token=token)["consumers"]["count"] == 3
    assert api.data(CONSUMER, {"id": user_id(b)}, token=token)["consumer"]["pk"] == b
    assert api.data(ORDERS, {}, token=token)["orders"]["count"] == 2


def test_an_inactive_customer_token_is_refused(api: Api) -> None:
    pk = make_customer(api.engine, active=False)
    payload = api.gql(LIST, token=api.token(pk))
    assert payload["data"] == {"consumers": None}


def test_the_creator_of_another_customer_is_hidden_from_a_consumer(api: Api) -> None:
    merchant = make_customer(
        api.engine, user_type="MERCHANT", merchant_approved_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    me = make_customer(api.engine, creator_pk=merchant)
    query = "query ($id: ID!) { consumer(id: $id) { creator { pk } } }"
    assert api.data(query, {"id": user_id(me)}, token=api.token(me)) == {"consumer": {"creator": None}}
    assert api.data(query, {"id": user_id(me)}, token=api.token(merchant)) == {
        "consumer": {"creator": {"pk": merchant}}
    }
