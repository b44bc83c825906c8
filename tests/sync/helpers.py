"""Helpers for pipeline tests: run an import on a store, read tables back for comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from models import get_engine
from sync.jobs import import_csv
from sync.pipeline import SUMMARY_KEYS, RunSummary
from sync.settings import Settings


def settings_for(url: str, **overrides: Any) -> Settings:
    return Settings(database_url=url, **overrides)


def run_csv(url: str, path: Path, batch_size: int = 5000, **kw: Any) -> RunSummary:
    # Keyword arguments that name a setting (e.g. default_phone_region) configure the run.
    overrides = {k: kw.pop(k) for k in list(kw) if k in Settings.model_fields}
    return import_csv(settings_for(url, batch_size=batch_size, **overrides), path, **kw)


def table_rows(url: str, table: str, order_by: str = "pk") -> list[dict[str, Any]]:
    with get_engine(url).connect() as conn:
        return [
            dict(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order_by}")).mappings()
        ]


def decoded_rows(url: str, table: str) -> list[dict[str, Any]]:
    """`table_rows` with JSON columns as values: SQLite hands them back as text."""
    rows = table_rows(url, table)
    for row in rows:
        for key in ("extra_info", "payload"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
    return rows


def write_file(tmp_path: Path, text: str, name: str = "f.csv") -> Path:
    """`text` written as UTF-8 to `tmp_path/name`."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def golden_view(url: str) -> dict[str, dict[str, Any]]:
    """Customers keyed by e-mail, without what is generated (pk, loyalty id, timestamps)."""
    skip = {"pk", "loyalty_id", "created_at", "updated_at"}
    return {
        str(r["email"] or r["entity_source_id"]): {k: v for k, v in r.items() if k not in skip}
        for r in table_rows(url, "customer")
    }


def assert_counts_add_up(summary: RunSummary) -> None:
    c = summary.as_dict()
    outcomes = sum(c[k] for k in SUMMARY_KEYS if k not in ("read", "warnings"))
    assert c["read"] == outcomes, c
