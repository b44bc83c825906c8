"""A run that a database error stops records the error's kind, never its statement or its values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import get_engine
from sync.tasks._base import one_line
from tests.sync.helpers import run_csv, table_rows, write_file

NAME, EMAIL = "Evangeline", "evangeline@example.com"


@pytest.fixture
def store_refusing_the_name(db_url: str) -> Iterator[str]:
    """The store, with the customer table refusing NAME: a real error from the database mid-run."""
    engine = get_engine(db_url)
    if engine.dialect.name == "postgresql":
        add = f"ALTER TABLE customer ADD CONSTRAINT refuse_name CHECK (firstname <> '{NAME}')"
        remove = "ALTER TABLE customer DROP CONSTRAINT refuse_name"
    else:
        add = (
            f"CREATE TRIGGER refuse_name BEFORE INSERT ON customer WHEN NEW.firstname = '{NAME}' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        remove = "DROP TRIGGER refuse_name"
    with engine.begin() as conn:
        conn.exec_driver_sql(add)
    try:
        yield db_url
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(remove)


def test_a_database_error_is_recorded_by_its_kind_without_sql_or_values(
    store_refusing_the_name: str, tmp_path: Path
) -> None:
    url = store_refusing_the_name
    path = write_file(
        tmp_path,
        "entitySourceId,email,firstname,lastname,updatedAt\n"
        f"c-1,{EMAIL},{NAME},Lee,2025-01-01T10:00:00+00:00\n",
    )
    with pytest.raises(sa.exc.IntegrityError) as raised:
        run_csv(url, path, preset_name="native")
    (run,) = table_rows(url, "sync_run", order_by="started_at")
    assert run["status"] == "failed"
    # The worker's record of a task that gave up says the same.
    for error in (run["error"], one_line(raised.value)):
        assert error.startswith("IntegrityError (")
        for leak in ("SELECT", "INSERT", "COPY", "[SQL:", "[parameters:", "Failing row", NAME, EMAIL):
            assert leak not in error, error
    assert raised.value.orig is not None
    assert type(raised.value.orig).__name__ in run["error"]
