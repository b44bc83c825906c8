"""Property-based fuzz of /graphql over the real schema, as a consumer and as a merchant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from api import export_schema
from models import Store
from tests.api.builders import make_customer, make_order, make_store, table
from tests.api.conftest import Api

LEAKS = ("Traceback", "SELECT", "INSERT", "sqlalchemy")
OTHER_EMAILS = ("someone.else@example.com", "stranger@example.com")


def _date_times() -> st.SearchStrategy[str]:
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    stamps = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).flatmap(
        lambda d: offsets.map(lambda tz: d.replace(tzinfo=tz).isoformat())
    )
    return st.one_of(stamps, st.text(max_size=30))


SCALARS = {
    "DateTime": _date_times().map(nodes.String),
    "Date": st.one_of(st.dates().map(lambda d: d.isoformat()), st.text(max_size=12)).map(nodes.String),
    "Decimal": st.one_of(st.decimals(allow_nan=False).map(str), st.text(max_size=12)).map(nodes.String),
    "JSONString": st.text(max_size=40).map(nodes.String),
    "ExpectedErrorType": st.text(max_size=10).map(nodes.String),
}
OPERATIONS = from_schema(export_schema(), custom_scalars=SCALARS)


def _people(api: Api) -> dict[str, int]:
    merchant = make_customer(
        api.engine,
        email="merchant@shop.example",
        user_type="MERCHANT",
        merchant_approved_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    store = make_store(api.engine, "Fuzz Store")
    with api.engine.begin() as conn:
        conn.execute(sa.update(table(Store)).where(table(Store).c.pk == store).values(merchant_pk=merchant))
    me = make_customer(api.engine, email="me@example.com")
    other = make_customer(api.engine, email=OTHER_EMAILS[0])
    stranger = make_customer(api.engine, email=OTHER_EMAILS[1])
    make_order(api.engine, other, datetime(2024, 1, 1, tzinfo=UTC), store_pk=store)
    make_order(api.engine, stranger, datetime(2024, 1, 1, tzinfo=UTC))
    return {"merchant": merchant, "me": me}


FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.mark.parametrize("who", ["me", "merchant"])
def test_fuzzed_operations_never_fail_or_leak(api: Api, who: str) -> None:
    people = _people(api)
    token = api.token(people[who])

    @FUZZ
    @given(document=OPERATIONS)
    def check(document: str) -> None:
        response = api.post(document, token=token)
        assert response.status_code in (200, 400, 413), (response.status_code, document)
        for leak in LEAKS:
            assert leak not in response.text, (leak, document, response.text[:500])
        if who == "me":
            for email in OTHER_EMAILS:
                assert email not in response.text, (document, response.text[:500])
        else:
            assert OTHER_EMAILS[1] not in response.text, (document, response.text[:500])

    check()
