"""Celery tasks: small JSON arguments (ids, paths, cursors), idempotent, stable names; each module imported here is registered."""

from __future__ import annotations

from sync.tasks._base import TRANSIENT, RunTask, run_id_for
from sync.tasks.csv import import_csv_file, load_csv_chunk
from sync.tasks.runs import finish_run_task, retry_run
from sync.tasks.salesforce import (
    load_salesforce_result_page,
    sync_salesforce_contacts,
    sync_salesforce_orders,
)
from sync.tasks.spotify import refresh_spotify_profiles
from sync.tasks.webhooks import import_webhooks, request_import, sweep_webhooks

__all__ = [
    "TRANSIENT",
    "RunTask",
    "finish_run_task",
    "import_csv_file",
    "import_webhooks",
    "load_csv_chunk",
    "load_salesforce_result_page",
    "refresh_spotify_profiles",
    "request_import",
    "retry_run",
    "run_id_for",
    "sweep_webhooks",
    "sync_salesforce_contacts",
    "sync_salesforce_orders",
]
