"""bulk pages: the result pages of a fanned-out Salesforce Bulk 2.0 run, each with its checkpoint

Revision ID: 0010_bulk_pages
Revises: 0009_login_throttle
Create Date: 2026-11-30 15:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models._types

revision: str = '0010_bulk_pages'
down_revision: str | None = '0009_login_throttle'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'sync_page',
        sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('index', sa.Integer(), nullable=False),
        sa.Column('locator', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('first_position', sa.BigInteger(), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=True),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('deliveries', sa.Integer(), nullable=False),
        sa.Column('last', sa.Boolean(), nullable=False),
        sa.Column('highest_stamp', models._types.UTCDateTime(), nullable=True),
        sa.Column('highest_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('updated_at', models._types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['sync_run.id']),
        sa.PrimaryKeyConstraint('run_id', 'index'),
    )


def downgrade() -> None:
    op.drop_table('sync_page')
