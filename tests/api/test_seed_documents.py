"""Every documented operation, sent verbatim over HTTP to a real server on PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from graphql_client import Client, document
from models import Customer, Store, utcnow
from tests.api.builders import (
    book_points,
    make_customer,
    make_order,
    make_order_type,
    make_promotion,
    make_redemption,
    make_store,
    table,
    user_id,
)
from tests.api.conftest import Api

# The seed's variables, except the password: "XXXXXX" is the documentation's redaction mark,
# and a real server refuses it (too short, too common) — see the test right below.
SEED_SIGNUP = {
    "email": "consumer@loyaltydish.com",
    "firstname": "John",
    "lastname": "Doe",
    "userType": "CONSUMER",
}
PASSWORD = "correct-horse-battery"


def test_sign_up_document_creates_the_customer_and_answers_tokens(api: Api) -> None:
    data = api.data(document("sign_up"), {**SEED_SIGNUP, "password": PASSWORD})

    register = data["register"]
    assert register["success"] is True
    assert register["errors"] is None
    assert register["token"].count(".") == 2
    assert len(register["refreshToken"]) == 40


def test_sign_up_with_the_redacted_seed_password_answers_password_codes(api: Api) -> None:
    data = api.data(document("sign_up"), {**SEED_SIGNUP, "password": "XXXXXX"})

    register = data["register"]
    assert register["success"] is False
    assert register["token"] is None
    codes = {e["code"] for e in register["errors"]["password2"]}
    assert codes == {"password_too_short", "password_too_common"}


def test_obtain_token_document_and_its_sign_in_alias(api: Api) -> None:
    api.data(document("sign_up"), {**SEED_SIGNUP, "password": PASSWORD})
    variables = {"email": "consumer@loyaltydish.com", "password": PASSWORD}

    plain = api.data(document("obtain_token"), variables)["obtainToken"]
    aliased = api.data(
        document("obtain_token").replace("{ obtainToken(", "{ signIn: obtainToken("), variables
    )

    assert plain["success"] is True
    assert plain["errors"] is None
    assert set(aliased) == {"signIn"}
    assert aliased["signIn"]["success"] is True
    assert aliased["signIn"]["token"]
    assert aliased["signIn"]["refreshToken"]


def test_consumers_document_lists_every_documented_field(api: Api) -> None:
    pk = make_customer(
        api.engine,
        email="ann@example.com",
        firstname="Ann",
        lastname="Lovelace",
        phone_number="+4915123456789",
        birthday=datetime(1990, 5, 17).date(),
        address="Main St 1, Berlin",
        city="Berlin",
        picture="https://example.com/ann.png",
        loyalty_id="LDANN0000001",
    )
    book_points(api.engine, pk, 120)

    data = api.data(document("consumers"), token=api.staff_token())

    nodes = [e["node"] for e in data["consumers"]["edges"]]
    ann = next(n for n in nodes if n["pk"] == pk)
    assert ann == {
        "pk": pk,
        "id": base64.b64encode(f"IUserNode:{pk}".encode()).decode(),
        "firstname": "Ann",
        "lastname": "Lovelace",
        "email": "ann@example.com",
        "pointsEarned": 120,
        "phoneNumber": "+4915123456789",
        "birthday": "1990-05-17",
        "address": "Main St 1, Berlin",
        "lastLogin": None,
        "loyaltyId": "LDANN0000001",
        "picture": "https://example.com/ann.png",
        "city": "Berlin",
    }


def test_consumer_document_answers_customer_177_with_points_and_redemptions(api: Api) -> None:
    make_customer(api.engine, pk=177)
    book_points(api.engine, 177, 50)
    book_points(api.engine, 177, 30)
    book_points(api.engine, 177, -20, reason="redemption")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    make_redemption(api.engine, 177, "POINTS", t0)
    make_redemption(api.engine, 177, "STAMPS", t0 + timedelta(days=1))

    data = api.data(document("consumer"), token=api.staff_token())

    consumer = data["consumer"]
    assert consumer["pointsEarned"] == 80  # earned, not the balance of 60
    assert [e["node"]["createdAt"] for e in consumer["redemptions"]["edges"]] == [
        "2024-01-02T00:00:00+00:00",
        "2024-01-01T00:00:00+00:00",
    ]
    assert len(consumer["stampsRedemptions"]["edges"]) == 1
    assert len(consumer["pointsRedemptions"]["edges"]) == 1
    assert base64.b64decode(consumer["pointsRedemptions"]["edges"][0]["node"]["id"]).startswith(
        b"RedemptionNode:"
    )


def test_available_promotions_document_with_its_variables(api: Api) -> None:
    pk = make_customer(api.engine, email="promo@example.com", loyalty_id="LDPROMO00001")
    store = make_store(api.engine, "Downtown")
    other_store = make_store(api.engine, "Airport")
    make_promotion(api.engine, "Everyone")
    make_promotion(api.engine, "Downtown only", store_pk=store)
    make_promotion(api.engine, "Airport only", store_pk=other_store)
    make_promotion(api.engine, "Expired", ends_at=datetime(2020, 1, 1, tzinfo=UTC))

    variables = {
        "consumerEmail": "PROMO@example.com",
        "storeId": base64.b64encode(f"StoreNode:{store}".encode()).decode(),
    }
    data = api.data(document("consumer_available_promotions"), variables, token=api.staff_token())

    result = data["consumerAvailablePromotions"]
    assert result["count"] == 2
    assert [e["node"]["name"] for e in result["edges"]] == ["Everyone", "Downtown only"]
    by_loyalty = api.data(
        document("consumer_available_promotions"), {"consumerLoyaltyId": "LDPROMO00001"}, token=api.token(pk)
    )
    assert by_loyalty["consumerAvailablePromotions"]["count"] == 3


def test_purchase_history_document_with_its_variables(api: Api) -> None:
    pk = make_customer(api.engine)
    other = make_customer(api.engine)
    dine_in = make_order_type(api.engine, "Dine-in")
    store = make_store(api.engine, "Main")
    make_order(api.engine, pk, datetime(2024, 3, 1, 12, tzinfo=UTC), "12.50", store, dine_in, "CASH", "A-1")
    make_order(api.engine, pk, datetime(2024, 3, 2, 12, tzinfo=UTC), "7.00", None, None, "credit_card", "A-2")
    make_order(api.engine, other, datetime(2024, 3, 3, 12, tzinfo=UTC))

    data = api.data(document("purchase_history"), {"id": user_id(pk)}, token=api.token(pk))

    assert [e["node"] for e in data["purchaseHistory"]["edges"]] == [
        {
            "orderId": "A-2",
            "completedAt": "2024-03-02T12:00:00+00:00",
            "paymentTypeDisplay": "Credit card",
            "total": "7.00",
            "orderType": None,
        },
        {
            "orderId": "A-1",
            "completedAt": "2024-03-01T12:00:00+00:00",
            "paymentTypeDisplay": "Cash",
            "total": "12.50",
            "orderType": {"name": "Dine-in"},
        },
    ]
    store_id = base64.b64encode(f"StoreNode:{store}".encode()).decode()
    in_store = api.data(
        document("purchase_history"), {"id": user_id(pk), "storeId": store_id}, token=api.token(pk)
    )
    assert [e["node"]["orderId"] for e in in_store["purchaseHistory"]["edges"]] == ["A-1"]


def _approve_with_a_store_177_redeemed_in(api: Api, email: str) -> None:
    customers, stores = table(Customer), table(Store)
    with api.engine.begin() as conn:
        merchant = conn.execute(sa.select(customers.c.pk).where(customers.c.email == email)).scalar_one()
        conn.execute(
            sa.update(customers).where(customers.c.pk == merchant).values(merchant_approved_at=utcnow())
        )
    store = make_store(api.engine, "Typed Store")
    with api.engine.begin() as conn:
        conn.execute(sa.update(stores).where(stores.c.pk == store).values(merchant_pk=merchant))
    promotion = make_promotion(api.engine, "Retired", store_pk=store, active=False)
    make_redemption(api.engine, 177, "POINTS", utcnow(), promotion_pk=promotion)


def test_the_typed_client_runs_every_operation_against_the_server(api: Api) -> None:
    make_customer(api.engine, pk=177)
    with Client(api.url) as client:
        signed_up = client.sign_up(
            email="typed@example.com", password=PASSWORD, firstname="Ty", lastname="Ped", user_type="MERCHANT"
        )
        assert signed_up.result.success
        assert signed_up.result.token
        # A merchant sees customer 177 once an operator approved it and gave it a store where
        # 177 redeemed something (self-registered merchants see nobody: issue 10).
        _approve_with_a_store_177_redeemed_in(api, "typed@example.com")
        login = client.obtain_token("typed@example.com", PASSWORD)
        assert login.obtain_token.success
        assert client.token == login.obtain_token.token

        consumers = client.consumers()
        assert {e.node.email for e in consumers.consumers.edges} >= {"typed@example.com"}  # type: ignore[union-attr]
        assert client.consumer().consumer is not None
        assert (
            client.consumer_available_promotions(
                consumer_loyalty_id=None, consumer_email="typed@example.com"
            ).consumer_available_promotions.count
            == 0
        )  # type: ignore[union-attr]
        history = client.purchase_history(user_id(177))
        assert history.purchase_history is not None
        assert history.purchase_history.edges == []
