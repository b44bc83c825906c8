"""A database error's text names the statement, never its parameters (customer data, hashes, tokens)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from models import get_engine, get_read_engine

SECRET = "argon2-hash-of-ann-s-password"


@pytest.mark.parametrize("pool", [get_engine, get_read_engine])
def test_an_error_hides_the_statement_parameters(db_url: str, pool: object) -> None:
    engine = pool(db_url)  # type: ignore[operator]
    with pytest.raises(sa.exc.DBAPIError) as caught, engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table WHERE secret = :s"), {"s": SECRET})
    text = str(caught.value)
    assert "no_such_table" in text  # still says what failed
    assert SECRET not in text
