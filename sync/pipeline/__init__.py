"""The pipeline: run records, executing a run batch by batch with checkpoints, and the mapper pool."""

from __future__ import annotations

from sync.pipeline.execute import execute_run
from sync.pipeline.runs import SUMMARY_KEYS, RunFailedError, RunSummary, create_run, new_run_id

__all__ = ["SUMMARY_KEYS", "RunFailedError", "RunSummary", "create_run", "execute_run", "new_run_id"]
