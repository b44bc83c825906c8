"""The pipeline: run records, stream leases, executing a run batch by batch, chunked and paged runs."""

from __future__ import annotations

from sync.pipeline.chunks import (
    ChunkPlan,
    ChunkTakenOver,
    fail_chunk,
    finish_chunked_run,
    plan_chunks,
    run_chunk,
)
from sync.pipeline.execute import execute_run
from sync.pipeline.lease import Lease, LeaseLost, StreamBusy, holder_of, lease_expiry, still_held
from sync.pipeline.pages import (
    FetchedPage,
    PagePlan,
    defer_page,
    fail_page,
    highest_key,
    open_pages,
    pages_left,
    plan_pages,
    run_page,
)
from sync.pipeline.runs import (
    SUMMARY_KEYS,
    RunFailedError,
    RunSummary,
    brief_error,
    create_run,
    fail_run,
    new_run_id,
    recorded_error,
    resolve_run_id,
    run_stream,
    run_summary,
    set_task,
    stopped_run,
    take_stream,
)
from sync.pipeline.stops import stops_recorded

__all__ = [
    "SUMMARY_KEYS",
    "ChunkPlan",
    "ChunkTakenOver",
    "FetchedPage",
    "Lease",
    "LeaseLost",
    "PagePlan",
    "RunFailedError",
    "RunSummary",
    "StreamBusy",
    "brief_error",
    "create_run",
    "defer_page",
    "execute_run",
    "fail_chunk",
    "fail_page",
    "fail_run",
    "finish_chunked_run",
    "highest_key",
    "holder_of",
    "lease_expiry",
    "new_run_id",
    "open_pages",
    "pages_left",
    "plan_chunks",
    "plan_pages",
    "recorded_error",
    "resolve_run_id",
    "run_chunk",
    "run_page",
    "run_stream",
    "run_summary",
    "set_task",
    "still_held",
    "stopped_run",
    "stops_recorded",
    "take_stream",
]
