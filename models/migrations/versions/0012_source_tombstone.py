"""source tombstone: deletes of records the store has not seen yet, so an older copy arriving later stays deleted

Revision ID: 0012_source_tombstone
Revises: 0011_order_page_indexes
Create Date: 2026-11-30 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models._types

revision: str = '0012_source_tombstone'
down_revision: str | None = '0011_order_page_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('source_tombstone',
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('entity_source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('modstamp', models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', models._types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', 'source_id')
    )


def downgrade() -> None:
    op.drop_table('source_tombstone')
