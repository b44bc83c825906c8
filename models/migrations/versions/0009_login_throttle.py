"""login throttle: failed logins and lockouts per e-mail, in the store (known addresses or not)

Revision ID: 0009_login_throttle
Revises: 0008_merchant_approval
Create Date: 2026-11-30 13:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models._types

revision: str = '0009_login_throttle'
down_revision: str | None = '0008_merchant_approval'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', models._types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('email')
    )
    # A lockout in force moves to its address; counts below the limit start afresh.
    op.execute(
        "INSERT INTO login_throttle (email, failures, locked_until, updated_at) "
        "SELECT email, 0, locked_until, CURRENT_TIMESTAMP FROM customer_login WHERE locked_until IS NOT NULL"
    )
    with op.batch_alter_table('customer_login') as batch:
        batch.drop_column('failed_attempts')
        batch.drop_column('locked_until')


def downgrade() -> None:
    with op.batch_alter_table('customer_login') as batch:
        batch.add_column(sa.Column('locked_until', models._types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('failed_attempts', sa.Integer(), nullable=False, server_default='0'))
    op.drop_table('login_throttle')
