"""The API's read pool does not ping: a connection the server dropped costs no answer an error."""

from __future__ import annotations

import sqlalchemy as sa

from models import get_read_engine
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
