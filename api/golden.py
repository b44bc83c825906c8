"""The bridge to the golden-record computation that `sync` owns."""

from __future__ import annotations

import sqlalchemy as sa

from sync.golden import recompute_customers


def recompute_golden_record(conn: sa.Connection, customer_pk: int) -> None:
    """Recompute a customer from its source rows after the API wrote one of them."""
    recompute_customers(conn, [customer_pk])
