"""Loading: batches written set-wise in one transaction, identity resolution, the golden record."""

from __future__ import annotations

from sync.load.commerce import COMMERCE_LOADERS
from sync.load.customers import (
    BatchResult,
    BatchTarget,
    StoredRows,
    find_unchanged,
    load_customer_batch,
    mark_seen,
    stored_after,
    supersedes,
)
from sync.load.golden import SourceRow, compute_golden, recompute_customers
from sync.load.identity import merge_stand_ins
from sync.load.lookup import find_customer, global_id
from sync.load.pk_set import PkSet
from sync.load.priorities import apply_priorities
from sync.load.staging import drop, stage, temp_table
from sync.load.state import save_state
from sync.load.statistics import PlannerStatistics
from sync.load.upsert import upsert_from

__all__ = [
    "COMMERCE_LOADERS",
    "BatchResult",
    "BatchTarget",
    "PkSet",
    "PlannerStatistics",
    "SourceRow",
    "StoredRows",
    "apply_priorities",
    "compute_golden",
    "drop",
    "find_customer",
    "find_unchanged",
    "global_id",
    "load_customer_batch",
    "mark_seen",
    "merge_stand_ins",
    "recompute_customers",
    "save_state",
    "stage",
    "stored_after",
    "supersedes",
    "temp_table",
    "upsert_from",
]
