"""merchant approval: when an operator approved a self-registered merchant

Revision ID: 0008_merchant_approval
Revises: 0007_raw_row_hash
Create Date: 2026-11-30 12:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models._types

revision: str = '0008_merchant_approval'
down_revision: str | None = '0007_raw_row_hash'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('customer', sa.Column('merchant_approved_at', models._types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customer') as batch:
        batch.drop_column('merchant_approved_at')
