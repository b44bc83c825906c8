"""A customer's points and redemption pages come with it: one trip, three statements for `consumer(id)`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import Redemption, get_read_engine
from tests.api.builders import book_points, make_customer, table, user_id
from tests.api.conftest import Api
from tests.api.test_no_n_plus_one import counting_statements

PAGE = "edges { node { id createdAt } } pageInfo { hasNextPage hasPreviousPage }"
# The documented operation, as the benchmark sends it.
CONSUMER = (
    "query ($id: ID!) { consumer(id: $id) { pointsEarned"
    f" redemptions {{ {PAGE} }} stampsRedemptions {{ {PAGE} }} pointsRedemptions {{ {PAGE} }} }} }}"
)


def _customer_with_redemptions(api: Api, n: int) -> int:
    pk = make_customer(api.engine)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {
            "source": "test",
            "source_id": f"ra{pk}-{i}",
            "customer_pk": pk,
            "kind": "POINTS" if i % 3 == 0 else "STAMPS",
            "points": 1,
            "stamps": 1,
            "content_hash": "",
            "created_at": t0 + timedelta(hours=i // 2),
        }
        for i in range(n)
    ]
    with api.engine.begin() as conn:
        conn.execute(table(Redemption).insert(), rows)
    book_points(api.engine, pk, 7)
    book_points(api.engine, pk, 5)
    book_points(api.engine, pk, -4)
    return pk


def _selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH", "("))]


def _one_by_one(api: Api, pk: int, token: str, fields: dict[str, str]) -> dict[str, object]:
    """Each field asked in a query of its own (no read-ahead can fold them)."""
    return {
        alias: api.data(
            f"query ($id: ID!) {{ consumer(id: $id) {{ {alias}: {field} }} }}", {"id": user_id(pk)}, token
        )["consumer"][alias]
        for alias, field in fields.items()
    }


def test_a_consumer_with_its_points_and_three_connections_is_three_statements(api: Api) -> None:
    pk = _customer_with_redemptions(api, 7)
    staff = api.staff_token()

    with counting_statements(api.engine, get_read_engine(api.settings.database_url)) as statements:
        node = api.data(CONSUMER, {"id": user_id(pk)}, token=staff)["consumer"]

    # The viewer, the customer with its points, the three pages in one statement.
    assert len(_selects(statements)) == 3, statements
    assert node["pointsEarned"] == 12
    assert node == {
        "pointsEarned": 12,
        **_one_by_one(
            api,
            pk,
            staff,
            {
                "redemptions": f"redemptions {{ {PAGE} }}",
                "stampsRedemptions": f"stampsRedemptions {{ {PAGE} }}",
                "pointsRedemptions": f"pointsRedemptions {{ {PAGE} }}",
            },
        ),
    }
    assert [len(node[c]["edges"]) for c in ("redemptions", "stampsRedemptions", "pointsRedemptions")] == [
        7,
        4,
        3,
    ]


def test_read_ahead_pages_equal_the_pages_each_connection_reads_alone(api: Api) -> None:
    pk = _customer_with_redemptions(api, 9)
    token = api.token(pk)  # the consumer itself: its own redemptions
    fields = {
        "a": "redemptions(first: 2) { count " + PAGE + " }",
        "b": 'redemptions(first: 2, after: "YXJyYXljb25uZWN0aW9uOjE=") { ' + PAGE + " }",
        "c": "stampsRedemptions(last: 2) { " + PAGE + " }",
        "d": "pointsRedemptions(first: 3, offset: 2) { " + PAGE + " }",
        "e": "pointsRedemptions(first: 1, offset: 50) { " + PAGE + " }",
        "f": "stampsRedemptions(first: 2) @skip(if: true) { " + PAGE + " }",
        "g": "stampsRedemptions(first: 0) { " + PAGE + " }",
    }
    query = (
        "query ($id: ID!) { consumer(id: $id) { " + " ".join(f"{k}: {v}" for k, v in fields.items()) + " } }"
    )

    together = api.data(query, {"id": user_id(pk)}, token)["consumer"]

    alone = _one_by_one(api, pk, token, {k: v for k, v in fields.items() if k != "f"})
    assert together == alone
    assert together["a"]["count"] == 9
    assert [len(together[k]["edges"]) for k in "abcdeg"] == [2, 2, 2, 1, 0, 0]


def test_a_bad_page_argument_is_still_the_connections_own_error(api: Api) -> None:
    pk = _customer_with_redemptions(api, 2)
    payload = api.gql(
        "query ($id: ID!) { consumer(id: $id) { pointsEarned redemptions(first: 500) { count } } }",
        {"id": user_id(pk)},
        api.staff_token(),
    )
    assert payload["data"]["consumer"] == {"pointsEarned": 12, "redemptions": None}
    assert [e["extensions"]["code"] for e in payload["errors"]] == ["PAGE_SIZE"]
    assert payload["errors"][0]["path"] == ["consumer", "redemptions"]


def test_another_consumer_is_null_and_none_of_its_redemptions_are_read(api: Api) -> None:
    pk = _customer_with_redemptions(api, 3)
    stranger = api.token(make_customer(api.engine))

    with counting_statements(api.engine, get_read_engine(api.settings.database_url)) as statements:
        assert api.data(CONSUMER, {"id": user_id(pk)}, stranger) == {"consumer": None}

    assert not [s for s in statements if "redemption" in s], statements


def test_a_page_of_consumers_gets_its_points_in_its_own_statement(api: Api) -> None:
    pk = _customer_with_redemptions(api, 1)
    other = make_customer(api.engine)
    staff = api.staff_token()

    with counting_statements(api.engine, get_read_engine(api.settings.database_url)) as statements:
        edges = api.data("{ consumers(first: 100) { edges { node { pk pointsEarned } } } }", token=staff)[
            "consumers"
        ]["edges"]

    assert len(_selects(statements)) == 2, statements  # the viewer, the page with its points
    points = {e["node"]["pk"]: e["node"]["pointsEarned"] for e in edges}
    assert (points[pk], points[other]) == (12, 0)


def test_pages_given_as_literals_or_variables_are_read_ahead_too(api: Api) -> None:
    pk = _customer_with_redemptions(api, 8)
    staff = api.staff_token()
    query = (
        "query ($id: ID!, $n: Int, $after: String) { consumer(id: $id) {"
        f" redemptions(first: 2) {{ {PAGE} }}"
        f" stampsRedemptions(first: $n, after: $after) {{ {PAGE} }}"
        f" pointsRedemptions(first: 1, offset: 1) {{ {PAGE} }} }} }}"
    )
    variables = {"id": user_id(pk), "n": 2, "after": "YXJyYXljb25uZWN0aW9uOjA="}  # after the first

    with counting_statements(api.engine, get_read_engine(api.settings.database_url)) as statements:
        node = api.data(query, variables, staff)["consumer"]

    assert len(_selects(statements)) == 3, statements
    assert [len(node[c]["edges"]) for c in ("redemptions", "stampsRedemptions", "pointsRedemptions")] == [
        2,
        2,
        1,
    ]
    assert node["stampsRedemptions"]["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": True}
    assert node["pointsRedemptions"]["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": True}
