"""API search indexes: trigram GIN for the *_Icontains filters (PostgreSQL), and one per documented filter

Revision ID: 0006_api_search_indexes
Revises: 0005_worker_runs
Create Date: 2026-11-30 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_api_search_indexes"
down_revision: str | None = "0005_worker_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `consumers(email_Icontains / phoneNumber_Icontains)` is `ILIKE '%…%'`: only a trigram index
# answers it without reading every customer. PostgreSQL only (models.POSTGRES_ONLY_INDEXES).
TRIGRAM = {"ix_customer_email_trgm": "email", "ix_customer_phone_number_trgm": "phone_number"}


def upgrade() -> None:
    # orders(store_Id, completedAt_Gte/Lte) and consumerAvailablePromotions(storeId); consumer_Id,
    # loyaltyId and the identifier lookups have theirs since 0001.
    op.create_index("ix_order_store_completed", "customer_order", ["store_pk", "completed_at"])
    op.create_index("ix_order_completed", "customer_order", ["completed_at"])
    op.create_index("ix_promotion_store", "promotion", ["store_pk"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in TRIGRAM.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON customer USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in TRIGRAM:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_promotion_store", "promotion")
    op.drop_index("ix_order_completed", "customer_order")
    op.drop_index("ix_order_store_completed", "customer_order")
