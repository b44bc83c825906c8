"""Jobs: one module per source, what the CLI and the Celery tasks call to run a sync."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sync.jobs.csv import choose_layout, import_csv, resume_csv
from sync.jobs.resume import resume_run

if TYPE_CHECKING:
    from sync.jobs.salesforce import sync_salesforce
    from sync.jobs.spotify import link_batches, next_due, rotate_token_keys, sync_spotify
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
    "LinkRefusedError",
    "LinkResult",
    "authorize_url",
    "choose_layout",
    "complete_link",
    "import_csv",
    "link_batches",
    "next_due",
    "read_connect_link",
    "resume_csv",
    "resume_run",
    "rotate_token_keys",
    "sign_connect_link",
    "sync_salesforce",
    "sync_spotify",
    "unlink_spotify",
]

# The Salesforce and Spotify client libraries load only when such a job runs.
_LAZY = {
    "sync_salesforce": "salesforce",
    **dict.fromkeys(("link_batches", "next_due", "rotate_token_keys", "sync_spotify"), "spotify"),
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
