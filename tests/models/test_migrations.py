"""Migrations and models agree, on PostgreSQL and on SQLite."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import models
from models import get_engine


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # As models/migrations/env.py: the PostgreSQL-only trigram indexes are not in the metadata.
    return not (type_ == "index" and name in models.POSTGRES_ONLY_INDEXES)


@pytest.mark.parametrize("store", ["sqlite_url", "pg_url"])
def test_migrated_schema_matches_the_models(store: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue(store)
    with get_engine(url).connect() as conn:
        opts = {"compare_type": True, "include_name": include_name}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), models.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def test_a_new_sqlite_store_migrates_itself_on_first_use(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    engine = models.ensure_schema(url)
    from models.db import current_revision, head_revision

    assert current_revision(engine) == head_revision(url) is not None


def test_postgresql_gets_trigram_indexes_for_the_icontains_filters(pg_url: str) -> None:
    with get_engine(pg_url).connect() as conn:
        found = set(
            conn.execute(
                sa.text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'customer' AND indexdef LIKE '%gin_trgm_ops%'"
                )
            ).scalars()
        )
    assert found == models.POSTGRES_ONLY_INDEXES
