"""Jobs: one module per source, what the CLI and the Celery tasks call to run a sync."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sync.jobs.csv import (
    FanOut,
    check_resumable_csv,
    choose_layout,
    import_csv,
    queue_csv,
    record_unusable_csv,
    resume_csv,
    run_csv,
    run_csv_chunk,
)
from sync.jobs.resume import resume_run

if TYPE_CHECKING:
    from sync.jobs.salesforce import (
        fan_out_salesforce,
        finish_salesforce_pages,
        load_salesforce_page,
        queue_salesforce,
        resume_salesforce,
        sync_salesforce,
    )
    from sync.jobs.salesforce_bulk import BulkFanOut, BulkJobPending, page_counts
    from sync.jobs.spotify import deferred_links, link_batches, next_due, rotate_token_keys, sync_spotify
    from sync.jobs.spotify_link import (
        LinkRefusedError,
        LinkResult,
        authorize_url,
        complete_link,
        read_connect_link,
        sign_connect_link,
        unlink_spotify,
    )

__all__ = [
    "BulkFanOut",
    "BulkJobPending",
    "FanOut",
    "LinkRefusedError",
    "LinkResult",
    "authorize_url",
    "check_resumable_csv",
    "choose_layout",
    "complete_link",
    "deferred_links",
    "fan_out_salesforce",
    "finish_salesforce_pages",
    "import_csv",
    "link_batches",
    "load_salesforce_page",
    "next_due",
    "page_counts",
    "queue_csv",
    "queue_salesforce",
    "read_connect_link",
    "record_unusable_csv",
    "resume_csv",
    "resume_run",
    "resume_salesforce",
    "rotate_token_keys",
    "run_csv",
    "run_csv_chunk",
    "sign_connect_link",
    "sync_salesforce",
    "sync_spotify",
    "unlink_spotify",
]

# The Salesforce and Spotify client libraries load only when such a job runs.
_LAZY = {
    **dict.fromkeys(
        (
            "sync_salesforce",
            "resume_salesforce",
            "queue_salesforce",
            "fan_out_salesforce",
            "load_salesforce_page",
            "finish_salesforce_pages",
        ),
        "salesforce",
    ),
    **dict.fromkeys(("BulkFanOut", "BulkJobPending", "page_counts"), "salesforce_bulk"),
    **dict.fromkeys(
        ("deferred_links", "link_batches", "next_due", "rotate_token_keys", "sync_spotify"), "spotify"
    ),
    **dict.fromkeys(
        (
            "LinkRefusedError",
            "LinkResult",
            "authorize_url",
            "complete_link",
            "read_connect_link",
            "sign_connect_link",
            "unlink_spotify",
        ),
        "spotify_link",
    ),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sync.jobs.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
