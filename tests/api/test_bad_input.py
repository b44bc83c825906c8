"""Bad input: malformed or unknown queries, bad ids, oversized pages, deep or alias-heavy documents."""

from __future__ import annotations

import pytest

from tests.api.builders import make_customer, make_customers
from tests.api.conftest import Api


def test_a_malformed_query_answers_400_with_errors(api: Api) -> None:
    response = api.post("query { consumers { edges { node { pk ")
    assert response.status_code == 400
    assert "Syntax Error" in response.json()["errors"][0]["message"]


def test_an_unknown_field_answers_400_with_errors(api: Api) -> None:
    response = api.post("query { consumers { edges { node { pk password } } } }", token=api.staff_token())
    assert response.status_code == 400
    assert "Cannot query field 'password'" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "query",
    [
        'query { orders(consumer_Id: "nonsense") { count } }',
        'query { consumer(id: "nonsense") { pk } }',
        # A well-formed global id of the wrong type is refused too.
        'query { orders(store_Id: "SVVzZXJOb2RlOjE3Nw==") { count } }',
        'query { consumers(after: "bm90LWEtY3Vyc29y") { count } }',
    ],
)
def test_an_invalid_global_id_is_a_graphql_error_not_a_500(api: Api, query: str) -> None:
    response = api.post(query, token=api.staff_token())
    assert response.status_code == 200
    payload = response.json()
    assert payload["errors"][0]["extensions"]["code"] in {"INVALID_ID", "INVALID_CURSOR"}


@pytest.mark.parametrize("argument", ["first: 1000", "last: 101", "first: -1", "offset: -5"])
def test_page_sizes_above_the_cap_are_refused(api: Api, argument: str) -> None:
    make_customer(api.engine)
    payload = api.gql(f"query {{ consumers({argument}) {{ count }} }}", token=api.staff_token())
    assert payload["data"] == {"consumers": None}
    assert payload["errors"][0]["extensions"]["code"] == "PAGE_SIZE"


def test_the_default_page_is_the_cap(api: Api) -> None:
    staff = api.staff_token()
    make_customers(api.engine, 120)

    result = api.data(
        "query { consumers { count edges { node { pk } } pageInfo { hasNextPage } } }", token=staff
    )

    assert result["consumers"]["count"] == 121
    assert len(result["consumers"]["edges"]) == 100
    assert result["consumers"]["pageInfo"]["hasNextPage"] is True


def test_a_query_nested_20_deep_is_refused(api: Api) -> None:
    inner = "pk"
    for _ in range(20):
        inner = f"creator {{ {inner} }}"
    response = api.post(
        f'query {{ consumer(id: "SVVzZXJOb2RlOjE=") {{ {inner} }} }}', token=api.staff_token()
    )
    assert response.status_code == 400
    assert "exceeds maximum operation depth" in response.json()["errors"][0]["message"]


def test_a_query_with_100_aliases_is_refused(api: Api) -> None:
    aliases = " ".join(f"a{i}: pk" for i in range(100))
    response = api.post(
        f"query {{ consumers {{ edges {{ node {{ {aliases} }} }} }} }}", token=api.staff_token()
    )
    assert response.status_code == 400
    assert "aliases" in response.json()["errors"][0]["message"]


def test_an_oversized_document_is_refused(api: Api) -> None:
    fields = " ".join(["pk"] * 6000)
    response = api.post(
        f"query {{ consumers {{ edges {{ node {{ {fields} }} }} }} }}", token=api.staff_token()
    )
    assert response.status_code == 400


@pytest.mark.parametrize("needle", ["%", "_", "'", "' OR '1'='1", "\\", "%'; DROP TABLE customer; --"])
def test_sql_metacharacters_in_filters_are_matched_literally(api: Api, needle: str) -> None:
    plain = make_customer(api.engine, email="plain@example.com", phone_number="+4915123456789")
    odd = make_customer(api.engine, email=f"odd{needle}x@example.com".replace(" ", ""))
    staff = api.staff_token()
    query = """query ($e: String, $p: String) {
      consumers(email_Icontains: $e, phoneNumber_Icontains: $p) { count edges { node { pk } } }
    }"""

    by_email = api.data(query, {"e": needle.replace(" ", "")}, token=staff)["consumers"]
    by_phone = api.data(query, {"p": needle}, token=staff)["consumers"]

    assert [e["node"]["pk"] for e in by_email["edges"]] == [odd]
    assert by_phone["count"] == 0
    # The same filters do match when the text is there, so the answers above are not empty by accident.
    assert [
        e["node"]["pk"] for e in api.data(query, {"p": "5123456"}, token=staff)["consumers"]["edges"]
    ] == [plain]
    assert [e["node"]["pk"] for e in api.data(query, {"e": "PLAIN@"}, token=staff)["consumers"]["edges"]] == [
        plain
    ]


def test_graphiql_is_served_on_get_and_health_on_healthz(api: Api) -> None:
    page = api.http.get(api.url, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    health = api.http.get(f"{api.server.url}/healthz")
    assert health.json() == {"status": "ok"}


def test_the_introspection_query_graphiql_sends_is_within_the_limits(api: Api) -> None:
    from graphql import get_introspection_query

    response = api.post(get_introspection_query(descriptions=True))
    assert response.status_code == 200
    assert "errors" not in response.json()
