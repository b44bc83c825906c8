"""Alembic environment: migrates the connection handed in, or one made from the URL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

import models

config = context.config
target_metadata = models.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate leaves alone what migrations create on PostgreSQL only (trigram indexes)."""
    return not (type_ == "index" and name in models.POSTGRES_ONLY_INDEXES)


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
