"""`count` is the filtered total under every filter combination; pages slice it as Relay says."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from api.graphql import PageArgs, offset_to_cursor, to_global_id
from tests.api.builders import make_customer, make_order, make_store, user_id
from tests.api.conftest import Api

PEOPLE = [
    # (email, phone, loyalty id)
    ("anna.smith@example.com", "+4915111111111", "LDAAAA000001"),
    ("ANNA.jones@example.org", "+4915122222222", "LDAAAA000002"),
    ("bob_50%@example.com", "+14155550100", "LDAAAA000003"),
    ("carl@example.com", None, "LDAAAA000004"),
    (None, "+4915111111199", "LDAAAA000005"),
]
EMAILS = [None, "", "  ", "anna", "EXAMPLE.COM", "_50%", "nobody"]
PHONES = [None, "", "+49151", "1111", "555"]
LOYALTY = [None, "", "LDAAAA000002", "LDAAAA999999"]
MERCHANT = (None, None, "LDMERCHANT01")  # the viewer is a customer too


def _expected(email: str | None, phone: str | None, loyalty: str | None) -> int:
    def blank(v: str | None) -> bool:
        return v is None or not v.strip()

    count = 0
    for p_email, p_phone, p_loyalty in [*PEOPLE, MERCHANT]:
        if not blank(email) and (p_email is None or email.strip().lower() not in p_email.lower()):  # type: ignore[union-attr]
            continue
        if not blank(phone) and (p_phone is None or phone.strip() not in p_phone):  # type: ignore[union-attr]
            continue
        if not blank(loyalty) and p_loyalty != loyalty.strip():  # type: ignore[union-attr]
            continue
        count += 1
    return count


def test_consumer_count_is_right_under_every_filter_combination(api: Api) -> None:
    for email, phone, loyalty in PEOPLE:
        make_customer(api.engine, email=email, phone_number=phone, loyalty_id=loyalty)
    # Staff, who see everyone (a merchant no longer does: issue 10); it counts itself too.
    merchant = api.token(make_customer(api.engine, staff=True, email=None, loyalty_id=MERCHANT[2]))
    query = """query ($e: String, $p: String, $l: String) {
      consumers(email_Icontains: $e, phoneNumber_Icontains: $p, loyaltyId: $l, first: 2) {
        count edges { node { pk } }
      }
    }"""
    for email, phone, loyalty in itertools.product(EMAILS, PHONES, LOYALTY):
        result = api.data(query, {"e": email, "p": phone, "l": loyalty}, token=merchant)["consumers"]
        expected = _expected(email, phone, loyalty)
        assert result["count"] == expected, (email, phone, loyalty)
        assert len(result["edges"]) == min(expected, 2)


def test_order_count_is_right_under_every_filter_combination(api: Api) -> None:
    a, b = make_customer(api.engine), make_customer(api.engine)
    s1, s2 = make_store(api.engine, "S1"), make_store(api.engine, "S2")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    orders = []
    for i, (customer, store) in enumerate(itertools.product((a, b), (s1, s2, None))):
        for day in (0, 10, 20):
            when = t0 + timedelta(days=day + i)
            make_order(api.engine, customer, when, store_pk=store)
            orders.append((customer, store, when))
    staff = api.staff_token()
    query = """query ($c: ID, $s: ID, $gte: DateTime, $lte: DateTime) {
      orders(consumer_Id: $c, store_Id: $s, completedAt_Gte: $gte, completedAt_Lte: $lte) { count }
    }"""
    bounds = [None, t0 + timedelta(days=5), t0 + timedelta(days=22)]
    for customer, store, gte, lte in itertools.product((None, a, b), (None, s1, s2), bounds, bounds):
        expected = sum(
            1
            for c, s, when in orders
            if (customer is None or c == customer)
            and (store is None or s == store)
            and (gte is None or when >= gte)
            and (lte is None or when <= lte)
        )
        variables = {
            "c": user_id(customer) if customer else None,
            "s": to_global_id("StoreNode", store) if store else None,
            "gte": gte.isoformat() if gte else None,
            "lte": lte.isoformat() if lte else None,
        }
        assert api.data(query, variables, token=staff)["orders"]["count"] == expected, variables


@pytest.mark.parametrize(
    ("args", "count", "window"),
    [
        ({}, 7, (0, 7)),
        ({"first": 3}, 7, (0, 3)),
        ({"last": 2}, 7, (5, 7)),
        ({"first": 2, "offset": 3}, 7, (3, 5)),
        ({"after": 1, "first": 2}, 7, (2, 4)),
        ({"before": 4, "last": 2}, 7, (2, 4)),
        ({"after": 1, "before": 5}, 7, (2, 5)),
        ({"offset": 10}, 7, (7, 7)),
        ({"first": 0}, 7, (0, 0)),
    ],
)
def test_page_windows_follow_relay(args: dict[str, int], count: int, window: tuple[int, int]) -> None:
    page = PageArgs.parse(
        args.get("first"),
        args.get("last"),
        offset_to_cursor(args["before"]) if "before" in args else None,
        offset_to_cursor(args["after"]) if "after" in args else None,
        args.get("offset"),
    )
    assert page.window(count) == window


def test_cursors_walk_a_connection_without_gaps_or_repeats(api: Api) -> None:
    staff = api.staff_token()
    pks = [make_customer(api.engine) for _ in range(7)]
    query = """query ($after: String) {
      consumers(first: 3, after: $after) {
        count edges { cursor node { pk } } pageInfo { hasNextPage endCursor }
      }
    }"""
    seen: list[int] = []
    after = None
    while True:
        page = api.data(query, {"after": after}, token=staff)["consumers"]
        seen += [e["node"]["pk"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen[1:] == pks
    assert len(seen) == 8


def test_a_page_without_count_has_the_same_edges_and_page_info_as_one_with_it(api: Api) -> None:
    # Without `count` selected the total is not counted (one row past the page tells hasNextPage):
    # every page must still answer exactly as the counted one does.
    for i in range(7):
        make_customer(api.engine, email=f"page{i}@example.com")
    staff = api.staff_token()
    shape = "edges { cursor node { pk } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
    pages: list[dict[str, object]] = [
        {"first": 3},
        {"first": 7},
        {"first": 8},
        {"first": 0},
        {"offset": 5, "first": 3},
        {"offset": 20, "first": 3},
        {"after": offset_to_cursor(1), "first": 2},
        {"before": offset_to_cursor(4), "first": 10},
        {"before": offset_to_cursor(4), "first": 2},
        {"last": 2},
        {"after": offset_to_cursor(6), "first": 2},
    ]
    for args in pages:
        params = ", ".join(
            f"{k}: {v if isinstance(v, int) else chr(34) + str(v) + chr(34)}" for k, v in args.items()
        )
        counted = api.data(
            f'{{ consumers(email_Icontains: "page", {params}) {{ count {shape} }} }}', token=staff
        )["consumers"]
        uncounted = api.data(
            f'{{ consumers(email_Icontains: "page", {params}) {{ {shape} }} }}', token=staff
        )["consumers"]
        del counted["count"]
        assert uncounted == counted, args


def test_count_and_points_asked_through_fragments_are_answered_as_when_asked_directly(api: Api) -> None:
    from tests.api.builders import book_points, make_redemption

    # Three matches and pages of one: a `count` taken for unselected would read 2 (one more
    # than the page), not 3.
    pks = [make_customer(api.engine, email=f"frag{i}@example.com") for i in range(3)]
    book_points(api.engine, pks[0], 7)
    for day in range(3):
        make_redemption(api.engine, pks[0], "POINTS", datetime(2024, 1, 1 + day, tzinfo=UTC))
    store = make_store(api.engine, "Fragments")
    for day in range(3):
        make_order(api.engine, pks[0], store_pk=store, completed_at=datetime(2024, 2, 1 + day, tzinfo=UTC))
    staff = api.staff_token()
    consumers = api.data(
        """query ($e: String) {
          named: consumers(email_Icontains: $e, first: 1) { ...Counted edges { node { ...Points } } }
          typed: consumers(email_Icontains: $e, first: 1) { ... on IUserNodeConnection { count } }
          bare: consumers(email_Icontains: $e, first: 1) { ... { count } }
        }
        fragment Counted on IUserNodeConnection { count }
        fragment Points on IUserNode { pk pointsEarned }""",
        {"e": "frag"},
        token=staff,
    )
    assert [consumers[k]["count"] for k in ("named", "typed", "bare")] == [3, 3, 3]
    assert consumers["named"]["edges"] == [{"node": {"pk": pks[0], "pointsEarned": 7}}]
    nested = api.data(
        """query ($id: ID!) { consumer(id: $id) { pointsRedemptions(first: 1) { ...Redeemed } } }
        fragment Redeemed on RedemptionNodeConnection { count edges { node { pk } } }""",
        {"id": to_global_id("IUserNode", pks[0])},
        token=staff,
    )
    assert nested["consumer"]["pointsRedemptions"]["count"] == 3
    orders = api.data(
        """query ($id: ID!) { orders(consumer_Id: $id, first: 1) { ... on OrderNodeConnection { count } } }""",
        {"id": to_global_id("IUserNode", pks[0])},
        token=staff,
    )
    assert orders["orders"]["count"] == 3
