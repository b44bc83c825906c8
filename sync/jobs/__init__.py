"""Jobs: one module per source, what the CLI and the Celery tasks call to run a sync."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sync.jobs.csv import choose_layout, import_csv, resume_csv
from sync.jobs.resume import resume_run

if TYPE_CHECKING:
    from sync.jobs.salesforce import sync_salesforce

__all__ = ["choose_layout", "import_csv", "resume_csv", "resume_run", "sync_salesforce"]


def __getattr__(name: str) -> Any:
    # The Salesforce client libraries load only when a Salesforce sync runs.
    if name == "sync_salesforce":
        from sync.jobs.salesforce import sync_salesforce

        return sync_salesforce
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
