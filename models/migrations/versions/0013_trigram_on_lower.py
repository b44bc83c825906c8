"""trigram indexes on lower(email) and lower(phone_number): equality lookups go to the btree indexes

Revision ID: 0013_trigram_on_lower
Revises: 0012_source_tombstone
Create Date: 2026-12-01 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_trigram_on_lower"
down_revision: str | None = "0012_source_tombstone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# pg_trgm's GIN operator class answers `=` too (since pg_trgm 1.6, PostgreSQL 14), and the
# planner costs that path far too low: once `customer` had statistics, the import's lookup of a
# batch's e-mails (`email = ANY(<2,000 addresses>)`) took the trigram index instead of the
# unique btree, 15-33 s for 6,000 customers with `@example.com` addresses instead of ~5 ms. On
# `lower(column)` the trigram index serves only what is written on `lower(column)`, the
# `*_Icontains` filters (`lower(email) LIKE lower('%term%')`, which is what ILIKE compares in
# a UTF-8 database), and `=` on the column is left to the btree.
OLD = {"ix_customer_email_trgm": "email", "ix_customer_phone_number_trgm": "phone_number"}
NEW = {"ix_customer_email_lower_trgm": "email", "ix_customer_phone_number_lower_trgm": "phone_number"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in OLD:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for name, column in NEW.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON customer USING gin (lower({column}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in NEW:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for name, column in OLD.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON customer USING gin ({column} gin_trgm_ops)")
