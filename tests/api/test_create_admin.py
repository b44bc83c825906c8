"""The first admin, as `customer-sync users create-admin` creates it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api import AdminCreationError, create_admin
from models import Customer, session_scope
from tests.api.builders import make_customer, table
from tests.api.conftest import Api

LOGIN = "mutation ($e: String!, $p: String!) { obtainToken(email: $e, password: $p) { success token } }"


def test_create_admin_makes_a_customer_that_can_log_in_and_see_everyone(api: Api) -> None:
    make_customer(api.engine)
    with session_scope(api.engine) as session:
        pk = create_admin(session, "Root@Example.com", "a-very-long-admin-password", api.settings).pk

    login = api.data(LOGIN, {"e": "root@example.com", "p": "a-very-long-admin-password"})["obtainToken"]
    assert login["success"] is True
    listed = api.data("query { consumers { count } }", token=login["token"])
    assert listed["consumers"]["count"] == 2
    with api.engine.connect() as conn:
        row = conn.execute(sa.select(table(Customer)).where(table(Customer).c.pk == pk)).one()
    assert (row.user_type, row.admin, row.staff, row.entity_source) == ("ADMIN", True, True, "INTERNAL")


def test_create_admin_promotes_an_existing_customer_but_never_overwrites_a_login(api: Api) -> None:
    pk = make_customer(api.engine, email="boss@example.com")
    # Promoting takes the explicit flag now (issue 10): without it, see test_admin_and_lockout.
    with session_scope(api.engine) as session:
        created = create_admin(
            session, "boss@example.com", "a-very-long-admin-password", api.settings, promote_existing=True
        )
    assert (created.pk, created.promoted) == (pk, True)
    with pytest.raises(AdminCreationError, match="already has a login"), session_scope(api.engine) as session:
        create_admin(session, "boss@example.com", "another-long-password", api.settings)


def test_create_admin_refuses_a_weak_password(api: Api) -> None:
    with pytest.raises(AdminCreationError, match="too short"), session_scope(api.engine) as session:
        create_admin(session, "root@example.com", "short", api.settings)
