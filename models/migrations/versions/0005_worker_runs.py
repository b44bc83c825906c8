"""worker runs: task id, skipped holder, stream leases, CSV chunks, seen lines

Revision ID: 0005_worker_runs
Revises: 0004_spotify_links
Create Date: 2026-11-30 12:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models._types

revision: str = '0005_worker_runs'
down_revision: str | None = '0004_spotify_links'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sync_run') as batch:
        batch.add_column(sa.Column('task_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column('held_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    with op.batch_alter_table('sync_seen') as batch:
        batch.add_column(sa.Column('line', sa.Integer(), nullable=True))
    op.create_table(
        'run_lease',
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('stream', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('expires_at', models._types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('source', 'stream'),
    )
    op.create_table(
        'sync_chunk',
        sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('index', sa.Integer(), nullable=False),
        sa.Column('start', sa.BigInteger(), nullable=False),
        sa.Column('end', sa.BigInteger(), nullable=False),
        sa.Column('first_line', sa.Integer(), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('deliveries', sa.Integer(), nullable=False),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('updated_at', models._types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['sync_run.id']),
        sa.PrimaryKeyConstraint('run_id', 'index'),
    )


def downgrade() -> None:
    op.drop_table('sync_chunk')
    op.drop_table('run_lease')
    with op.batch_alter_table('sync_seen') as batch:
        batch.drop_column('line')
    with op.batch_alter_table('sync_run') as batch:
        batch.drop_column('held_by')
        batch.drop_column('task_id')
