"""Available promotions: store, dates, audience, minimum points and the per-customer limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from models import utcnow
from tests.api.builders import book_points, make_customer, make_order, make_promotion, make_redemption
from tests.api.conftest import Api

QUERY = """query ($email: String) {
  consumerAvailablePromotions(consumerEmail: $email) { count edges { node { name } } }
}"""


def _names(api: Api, token: str, email: str) -> list[str]:
    result = api.data(QUERY, {"email": email}, token=token)["consumerAvailablePromotions"]
    names = [e["node"]["name"] for e in result["edges"]]
    assert result["count"] == len(names)
    return names


def test_promotions_follow_their_rules(api: Api) -> None:
    now = utcnow()
    this_month = date(1990, now.month, 1)
    other_month = date(1990, now.month % 12 + 1, 1)
    fan = make_customer(
        api.engine, email="fan@example.com", birthday=this_month, extra_info={"tags": ["VIP", "coffee"]}
    )
    regular = make_customer(api.engine, email="regular@example.com", birthday=other_month)
    make_order(api.engine, regular, now - timedelta(days=3))
    book_points(api.engine, fan, 150)
    book_points(api.engine, fan, -60, reason="redemption")  # balance 90
    make_promotion(api.engine, "everyone")
    make_promotion(api.engine, "not yet", starts_at=now + timedelta(days=1))
    make_promotion(api.engine, "over", ends_at=now - timedelta(seconds=1))
    make_promotion(api.engine, "inactive", active=False)
    make_promotion(api.engine, "newcomers", audience="NEW_CUSTOMERS")
    make_promotion(api.engine, "birthday", audience="BIRTHDAY_MONTH")
    make_promotion(api.engine, "80 points", audience="MIN_POINTS", min_points=80)
    make_promotion(api.engine, "100 points", audience="MIN_POINTS", min_points=100)
    make_promotion(api.engine, "vip", audience="TAGS", tags=["vip"])
    once = make_promotion(api.engine, "once", per_customer_limit=1)
    make_redemption(api.engine, regular, "POINTS", datetime(2024, 1, 1, tzinfo=UTC), promotion_pk=once)
    staff = api.staff_token()

    assert _names(api, staff, "fan@example.com") == [
        "everyone",
        "newcomers",
        "birthday",
        "80 points",
        "vip",
        "once",
    ]
    assert _names(api, staff, "regular@example.com") == ["everyone"]
    assert _names(api, staff, "nobody@example.com") == []
