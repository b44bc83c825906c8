"""Merchants see the customers of their own stores (or whom they created), nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from models import Store, get_read_engine
from sync.cli import app
from tests.api.builders import (
    make_customer,
    make_order,
    make_promotion,
    make_redemption,
    make_store,
    table,
    user_id,
)
from tests.api.conftest import Api

LIST = "query { consumers { count edges { node { pk email phoneNumber street } } } }"
ONE = "query ($id: ID!) { consumer(id: $id) { pk email redemptions { count edges { node { id } } } } }"
ORDERS = "query ($id: ID) { orders(consumer_Id: $id) { count edges { node { orderId } } } }"
PROMOS = (
    "query ($e: String) { consumerAvailablePromotions(consumerEmail: $e) { count edges { node { name } } } }"
)
CREATOR = "query ($id: ID!) { consumer(id: $id) { creator { pk email } } }"
REGISTER = """mutation ($e: String!) {
  register(email: $e, password1: "Merchant-Pass-77", password2: "Merchant-Pass-77", firstname: "Mo",
           lastname: "Shop", userType: "MERCHANT") { success token }
}"""
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _world(api: Api) -> dict[str, Any]:
    """Two merchants with a store each, and customers who shopped in one, the other, or both."""
    mine = make_customer(api.engine, email="mine@shop.example", user_type="MERCHANT", merchant_approved_at=T0)
    theirs = make_customer(
        api.engine, email="theirs@shop.example", user_type="MERCHANT", merchant_approved_at=T0
    )
    my_store, their_store = make_store(api.engine, "Mine"), make_store(api.engine, "Theirs")
    with api.engine.begin() as conn:
        store = table(Store)
        conn.execute(sa.update(store).where(store.c.pk == my_store).values(merchant_pk=mine))
        conn.execute(sa.update(store).where(store.c.pk == their_store).values(merchant_pk=theirs))
    buyer = make_customer(api.engine, email="buyer@example.com", phone_number="+4915100000001")
    redeemer = make_customer(api.engine, email="redeemer@example.com")
    created = make_customer(api.engine, email="created@example.com", creator_pk=mine)
    stranger = make_customer(
        api.engine, email="stranger@example.com", phone_number="+4915100000009", street="Secret St 1"
    )
    admin = make_customer(api.engine, email="admin@example.com", user_type="ADMIN", admin=True, staff=True)
    make_order(api.engine, buyer, T0, store_pk=my_store, order_id="MY-1")
    make_order(api.engine, buyer, T0, store_pk=their_store, order_id="THEIR-1")
    make_order(api.engine, stranger, T0, store_pk=their_store, order_id="THEIR-2")
    my_promo = make_promotion(api.engine, "Mine 10%", store_pk=my_store)
    their_promo = make_promotion(api.engine, "Theirs 20%", store_pk=their_store)
    make_promotion(api.engine, "Everywhere")
    make_redemption(api.engine, redeemer, "POINTS", T0, promotion_pk=my_promo)
    make_redemption(api.engine, redeemer, "POINTS", T0, promotion_pk=their_promo)
    return {
        "mine": mine, "theirs": theirs, "buyer": buyer, "redeemer": redeemer, "created": created,
        "stranger": stranger, "admin": admin, "my_store": my_store,
    }  # fmt: skip


def test_a_merchant_lists_only_customers_of_its_stores_or_whom_it_created(api: Api) -> None:
    w = _world(api)
    token = api.token(w["mine"])

    listed = api.data(LIST, token=token)["consumers"]

    assert sorted(e["node"]["pk"] for e in listed["edges"]) == sorted(
        [w["mine"], w["buyer"], w["redeemer"], w["created"]]
    )
    assert listed["count"] == 4
    text = str(listed)
    for hidden in (
        "stranger@example.com",
        "+4915100000009",
        "Secret St 1",
        "admin@example.com",
        "theirs@shop",
    ):
        assert hidden not in text
    # Filters cannot widen the scope: searching for the stranger finds nobody.
    found = api.data('query { consumers(email_Icontains: "stranger") { count } }', token=token)
    assert found["consumers"]["count"] == 0


def test_a_merchant_cannot_read_another_stores_customer_by_id(api: Api) -> None:
    w = _world(api)
    token = api.token(w["mine"])
    assert api.data(ONE, {"id": user_id(w["stranger"])}, token=token) == {"consumer": None}
    assert api.data(ONE, {"id": user_id(w["admin"])}, token=token) == {"consumer": None}
    assert api.data(ONE, {"id": user_id(w["buyer"])}, token=token)["consumer"]["email"] == "buyer@example.com"


def test_a_merchant_sees_only_its_stores_orders_redemptions_and_promotions(api: Api) -> None:
    w = _world(api)
    token = api.token(w["mine"])

    orders = api.data(ORDERS, {}, token=token)["orders"]
    assert [e["node"]["orderId"] for e in orders["edges"]] == ["MY-1"]
    assert api.data(ORDERS, {"id": user_id(w["stranger"])}, token=token)["orders"]["count"] == 0

    redeemer = api.data(ONE, {"id": user_id(w["redeemer"])}, token=token)["consumer"]
    assert redeemer["redemptions"]["count"] == 1

    promos = api.data(PROMOS, {"e": "buyer@example.com"}, token=token)["consumerAvailablePromotions"]
    assert [e["node"]["name"] for e in promos["edges"]] == ["Mine 10%"]
    assert (
        api.data(PROMOS, {"e": "stranger@example.com"}, token=token)["consumerAvailablePromotions"]["count"]
        == 0
    )


def test_the_creator_of_a_customer_is_shown_only_when_visible(api: Api) -> None:
    w = _world(api)
    other_created = make_customer(api.engine, creator_pk=w["theirs"])
    make_order(api.engine, other_created, T0, store_pk=w["my_store"])
    token = api.token(w["mine"])
    assert api.data(CREATOR, {"id": user_id(other_created)}, token=token) == {"consumer": {"creator": None}}
    assert (
        api.data(CREATOR, {"id": user_id(w["created"])}, token=token)["consumer"]["creator"]["pk"]
        == w["mine"]
    )


def test_staff_and_admins_still_see_everyone(api: Api) -> None:
    w = _world(api)
    listed = api.data(LIST, token=api.token(w["admin"]))["consumers"]
    assert listed["count"] == 7
    assert api.data(ORDERS, {}, token=api.token(w["admin"]))["orders"]["count"] == 3


def test_a_self_registered_merchant_sees_nobody_until_approved_and_given_a_store(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = _world(api)
    signed_up = api.data(REGISTER, {"e": "new@shop.example"})["register"]
    assert signed_up["success"] is True
    token = signed_up["token"]
    me = api.data(LIST, token=token)["consumers"]
    assert me["count"] == 1
    assert me["edges"][0]["node"]["email"] == "new@shop.example"
    assert api.data(ORDERS, {}, token=token)["orders"]["count"] == 0

    monkeypatch.setenv("DATABASE_URL", api.settings.database_url)
    runner = CliRunner()
    early = runner.invoke(app, ["stores", "assign", "Mine", "--merchant", "new@shop.example"])
    assert early.exit_code == 2
    assert "merchants approve new@shop.example" in early.stderr
    assert len(early.stderr.strip().splitlines()) == 1

    approved = runner.invoke(app, ["merchants", "approve", "new@shop.example"])
    assert approved.exit_code == 0, approved.output
    assigned = runner.invoke(app, ["stores", "assign", "Mine", "--merchant", "new@shop.example"])
    assert assigned.exit_code == 0, assigned.output

    listed = api.data(LIST, token=token)["consumers"]
    others = [e["node"]["pk"] for e in listed["edges"] if e["node"]["email"] != "new@shop.example"]
    assert sorted(others) == sorted([w["buyer"], w["redeemer"]])
    assert api.data(ORDERS, {}, token=token)["orders"]["count"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["merchants", "approve", "nobody@example.com"], "no merchant nobody@example.com"),
        (["merchants", "approve", "buyer@example.com"], "is not a merchant"),
        (
            ["stores", "assign", "No Such Store", "--merchant", "mine@shop.example"],
            "no store 'No Such Store'",
        ),
    ],
)
def test_operator_mistakes_are_one_line(
    api: Api, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    _world(api)
    monkeypatch.setenv("DATABASE_URL", api.settings.database_url)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_merchant_listing_100_customers_with_redemptions_is_a_bounded_query_count(api: Api) -> None:
    from tests.api.builders import make_customers
    from tests.api.test_no_n_plus_one import QUERY, counting_statements

    w = _world(api)
    promo = make_promotion(api.engine, "Bulk 5%", store_pk=w["my_store"])
    for pk in make_customers(api.engine, 100):
        make_redemption(api.engine, pk, "POINTS" if pk % 2 else "STAMPS", T0, promotion_pk=promo)
    token = api.token(w["mine"])

    with counting_statements(api.engine, get_read_engine(api.settings.database_url)) as statements:
        data = api.data(QUERY, token=token)

    nodes = [e["node"] for e in data["consumers"]["edges"]]
    assert len(nodes) == 100
    assert data["consumers"]["count"] == 104  # itself, buyer, redeemer, created, and the 100
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    # The scope is part of each statement, not a statement of its own per customer.
    assert len(selects) <= 10, selects


def test_a_store_imported_with_its_merchant_shows_that_merchant_its_customers(
    api: Api, tmp_path: Path
) -> None:
    from tests.sync.helpers import run_csv

    signed_up = api.data(REGISTER, {"e": "owner@shop.example"})["register"]
    buyer = make_customer(api.engine, email="csv.buyer@example.com")
    make_customer(api.engine, email="elsewhere@example.com")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "orderId,consumerEmail,store,storeMerchant,completedAt,total\n"
        "C-1,csv.buyer@example.com,Harbour,OWNER@shop.example,2024-05-01T12:00:00Z,12.00\n"
        "C-2,elsewhere@example.com,Hillside,,2024-05-01T12:00:00Z,5.00\n",
        encoding="utf-8",
    )
    summary = run_csv(api.settings.database_url, orders, kind="orders", preset_name="native")
    assert summary.status == "succeeded"

    listed = api.data(LIST, token=signed_up["token"])["consumers"]
    assert sorted(e["node"]["email"] for e in listed["edges"]) == [
        "csv.buyer@example.com",
        "owner@shop.example",
    ]
    assert buyer in [e["node"]["pk"] for e in listed["edges"]]
    orders_seen = api.data(ORDERS, {}, token=signed_up["token"])["orders"]
    assert [e["node"]["orderId"] for e in orders_seen["edges"]] == ["C-1"]
