"""A JSON POST to /graphql answered by `api.graphql.http` is byte for byte what strawberry's router answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from tests.api.builders import make_customer, user_id
from tests.api.conftest import Api

ABSENT = object()

DOCUMENTS = [
    "query ($q: String) { consumers(email_Icontains: $q) { count edges { node { pk email } } } }",
    "query ($id: ID!) { consumer(id: $id) { pk pointsEarned redemptions { count } } }",
    "query A { consumers { count } } query B { orders { count } }",
    'query { consumers(loyaltyId: "LD\\u0000X") { count } }',
    "query { consumers { edges { node { pk password } } } }",  # does not validate
    "query { consumers { edges { node { pk ",  # does not parse
    "query { consumers { edges { node { creator { creator { creator { creator { creator { creator "
    "{ creator { creator { creator { creator { creator { pk } } } } } } } } } } } } } } }",  # too deep
    'mutation { revokeToken(refreshToken: "nope") { revoked } }',
    "subscription { consumers { count } }",
    "{ __schema { queryType { name } } }",
    "",
]
VARIABLES = [ABSENT, None, {}, {"q": "person"}, {"q": "a\u0000b"}, {"id": "not-an-id"}, [1], "text"]
OPERATION_NAMES = [ABSENT, None, "A", "B", "C", 5]
EXTENSIONS = [ABSENT, None, {}, 3]
QUERIES: list[Any] = [*DOCUMENTS, ABSENT, None, 7]


def _body(query: Any, variables: Any, operation: Any, extensions: Any) -> dict[str, Any]:
    fields = {"query": query, "variables": variables, "operationName": operation, "extensions": extensions}
    return {k: v for k, v in fields.items() if v is not ABSENT}


async def _answers(api: Api, bodies: list[tuple[dict[str, Any], str | None]]) -> list[list[Any]]:
    answers: list[list[Any]] = []
    for direct in (True, False):
        app = create_app(api.settings, api.mailer, direct_graphql=direct)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            seen = []
            for body, token in bodies:
                headers = {
                    "Content-Type": "application/json",
                    **({"Authorization": f"JWT {token}"} if token else {}),
                }
                response = await client.post("/graphql", content=json.dumps(body), headers=headers)
                seen.append((response.status_code, response.headers.get("content-type"), response.content))
            answers.append(seen)
    return answers


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requests=st.lists(
        st.tuples(
            st.sampled_from(QUERIES),
            st.sampled_from(VARIABLES),
            st.sampled_from(OPERATION_NAMES),
            st.sampled_from(EXTENSIONS),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_direct_path_answers_as_the_router(api: Api, requests: list[tuple[Any, ...]]) -> None:
    staff = api.staff_token()
    me = make_customer(api.engine)
    bodies = []
    for query, variables, operation, extensions, signed_in in requests:
        if variables == {"id": "not-an-id"} and signed_in:
            variables = {"id": user_id(me)}
        bodies.append((_body(query, variables, operation, extensions), staff if signed_in else None))
    direct, router = asyncio.run(_answers(api, bodies))
    assert direct == router


def test_the_direct_path_serves_json_posts_and_leaves_the_rest_to_the_router(api: Api) -> None:
    # GraphiQL on GET is the router's; a JSON POST is answered directly, with the same shape.
    page = api.http.get(api.url, headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    answer = api.post("query { consumers { count } }", token=api.staff_token())
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"data": {"consumers": {"count": 1}}}
    assert "x-request-id" in answer.headers
    # Not JSON: strawberry's own refusal.
    other = api.http.post(api.url, content=b"query { x }", headers={"Content-Type": "application/graphql"})
    assert (other.status_code, other.text) == (400, "Unsupported content type")
