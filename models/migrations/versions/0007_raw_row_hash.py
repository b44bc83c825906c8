"""customer_source.raw_hash: re-imports skip unchanged raw rows before mapping

Revision ID: 0007_raw_row_hash
Revises: 0006_api_search_indexes
Create Date: 2026-11-30 12:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_raw_row_hash"
down_revision: str | None = "0006_api_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_source") as batch:
        batch.add_column(sa.Column("raw_hash", sa.String(length=32), nullable=True))
    op.create_index("ix_customer_source_raw_hash", "customer_source", ["source", "raw_hash"])


def downgrade() -> None:
    op.drop_index("ix_customer_source_raw_hash", "customer_source")
    with op.batch_alter_table("customer_source") as batch:
        batch.drop_column("raw_hash")
