"""The API's read pool: it does not ping (a dropped connection costs no answer an error) and keeps its connections."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from models import READ_POOL_SIZE, get_read_engine
from tests.api.builders import make_customer
from tests.api.conftest import Api

QUERY = "query ($id: ID!) { consumer(id: $id) { pk pointsEarned redemptions { edges { node { id } } } } }"


def test_reads_after_the_server_dropped_every_pooled_connection_still_answer(api: Api) -> None:
    from api.graphql import to_global_id

    staff = api.staff_token()
    pk = make_customer(api.engine)
    variables = {"id": to_global_id("IUserNode", pk)}
    assert api.data(QUERY, variables, token=staff)["consumer"]["pk"] == pk
    pool = get_read_engine(api.settings.database_url).pool
    assert pool.checkedin() > 0  # the reads left their connections in the pool

    # What a database restart or failover does to idle connections: the server ends them.
    with api.engine.connect() as conn:
        ended = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert ended >= pool.checkedin()

    for _ in range(3):
        # Each read finds a dead connection at most once, then the pool is renewed.
        assert api.data(QUERY, variables, token=staff)["consumer"]["pk"] == pk


def test_concurrent_reads_keep_their_connections_instead_of_opening_new_ones(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from api.graphql import to_global_id

    staff = api.staff_token()
    variables = {"id": to_global_id("IUserNode", make_customer(api.engine))}
    pool = get_read_engine(api.settings.database_url).pool
    opened: list[object] = []

    def count(conn: object, _record: object) -> None:
        opened.append(conn)

    sa.event.listen(pool, "connect", count)
    try:
        idle_before = pool.checkedin()
        # More clients than the read threads, so every thread is busy at once, again and again.
        clients = READ_POOL_SIZE + 4
        with ThreadPoolExecutor(clients) as senders:
            answers = list(
                senders.map(lambda _: api.data(QUERY, variables, token=staff), range(clients * 10))
            )
    finally:
        sa.event.remove(pool, "connect", count)
    assert all(a["consumer"]["pk"] for a in answers)
    # A connection per read thread at most: none closed after a read and opened for the next.
    assert idle_before + len(opened) <= READ_POOL_SIZE


def test_an_app_served_through_a_second_lifespan_still_reads(api: Api) -> None:
    # The end of a lifespan lets the read threads go; the next read makes new ones (before, the
    # pool stayed shut down and every read of a second lifespan was an internal error).
    import asyncio

    import httpx

    from api import MemoryMailSender, create_app
    from api.graphql import to_global_id

    app = create_app(api.settings, MemoryMailSender())
    staff = api.staff_token()
    pk = make_customer(api.engine)
    body = {"query": QUERY, "variables": {"id": to_global_id("IUserNode", pk)}}

    async def served_twice() -> list[Any]:
        answers = []
        for _ in range(2):
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                    answer = await client.post(
                        "/graphql", json=body, headers={"Authorization": f"JWT {staff}"}
                    )
                    answers.append(answer.json())
        return answers

    expected = {"data": {"consumer": {"pk": pk, "pointsEarned": 0, "redemptions": {"edges": []}}}}
    assert asyncio.run(served_twice()) == [expected, expected]
