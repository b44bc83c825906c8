"""Migrations and models agree, on PostgreSQL and on SQLite."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import models
from models import get_engine


@pytest.mark.parametrize("store", ["sqlite_url", "pg_url"])
def test_migrated_schema_matches_the_models(store: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue(store)
    with get_engine(url).connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), models.metadata
        )
    assert diff == [], f"models changed without a migration: {diff}"


def test_a_new_sqlite_store_migrates_itself_on_first_use(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    engine = models.ensure_schema(url)
    from models.db import current_revision, head_revision

    assert current_revision(engine) == head_revision(url) is not None
