"""Property: a re-import that skips unchanged rows before mapping ends exactly where mapping every row ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
import sync.pipeline.skip as skip_module
from bench.exports import CUSTOMER_HEADER, customer_rows, write_csv
from models import get_engine
from tests.conftest import truncate_all
from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows

MAPPING = Path(__file__).parents[2] / "bench" / "customers.toml"
BASE = list(customer_rows(12))
STREET = CUSTOMER_HEADER.index("street")

# What becomes of one row of the first file in the second: kept as it was, its street changed,
# left out; and rows read once more further down (as they were, or changed).
_fate = st.sampled_from(["same", "same", "same", "moved", "gone"])
_repeat = st.tuples(st.integers(0, len(BASE) - 1), st.booleans(), st.integers(0, len(BASE)))


def _second_file(fates: list[str], repeats: list[tuple[int, bool, int]]) -> list[list[str]]:
    rows: list[list[str]] = []
    for row, fate in zip(BASE, fates, strict=True):
        if fate == "moved":
            rows.append([*row[:STREET], row[STREET] + " (moved)", *row[STREET + 1 :]])
        elif fate == "same":
            rows.append(list(row))
    for index, changed, at in repeats:
        row = BASE[index]
        again = [*row[:STREET], f"{index} Repeat Road", *row[STREET + 1 :]] if changed else list(row)
        rows.insert(min(at, len(rows)), again)
    return rows


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two SQLite stores: one whose re-imports skip unchanged rows, one whose re-imports map all."""
    urls = []
    for name in ("skipping", "mapping_all"):
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'store.db'}"
        models.ensure_schema(url)
        urls.append(url)
    return urls[0], urls[1]


def _store(url: str) -> dict[str, Any]:
    """What a store holds, without the columns that differ by when or in which order rows were written."""
    customers = {
        r["entity_source_id"]: {
            k: v for k, v in r.items() if k not in ("pk", "created_at", "updated_at", "loyalty_id")
        }
        for r in table_rows(url, "customer")
    }
    sources = {
        r["source_id"]: (r["content_hash"], r["payload"], r["deleted"])
        for r in table_rows(url, "customer_source")
    }
    return {"customers": customers, "sources": sources}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fates=st.lists(_fate, min_size=len(BASE), max_size=len(BASE)),
    repeats=st.lists(_repeat, max_size=4),
    batch_size=st.integers(1, 7),
)
def test_skipping_unchanged_rows_ends_as_mapping_every_row(
    stores: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    fates: list[str],
    repeats: list[tuple[int, bool, int]],
    batch_size: int,
) -> None:
    skipping, mapping_all = stores
    folder = tmp_path_factory.mktemp("files")
    first = write_csv(folder / "first.csv", CUSTOMER_HEADER, iter(BASE))
    second = write_csv(folder / "second.csv", CUSTOMER_HEADER, iter(_second_file(fates, repeats)))
    summaries = {}
    for url in stores:
        truncate_all(get_engine(url))
        run_csv(url, first, mapping=MAPPING)
        with monkeypatch.context() as patch:
            if url == mapping_all:
                # The store is taken for one that has never seen the source: every row is mapped.
                patch.setattr(skip_module, "_holds_any", lambda *_: False)
            summaries[url] = run_csv(url, second, batch_size=batch_size, mapping=MAPPING)
        assert_counts_add_up(summaries[url])
    assert summaries[skipping].counts == summaries[mapping_all].counts
    assert _store(skipping) == _store(mapping_all)
