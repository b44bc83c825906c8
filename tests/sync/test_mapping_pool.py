"""The mapping pool: its size by machine and process, and started only for a run of several batches."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from bench.exports import CUSTOMER_HEADER, customer_rows, write_csv
from bench.imports import MAPPING
from connectors import SourceRecord
from sync.mapping.layouts import load_mapping
from sync.pipeline.mapper import AUTO_WORKERS_MAX, BatchMapper, pool_size
from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows


def test_the_setting_wins_and_unset_takes_one_process_per_core() -> None:
    cores = len(os.sched_getaffinity(0))
    assert pool_size(0) == 0
    assert pool_size(3) == 3
    assert pool_size(None) == (min(cores, AUTO_WORKERS_MAX) if cores > 1 else 0)


def _size_in_daemon(setting: int | None, out: multiprocessing.SimpleQueue[int]) -> None:
    out.put(pool_size(setting))


@pytest.mark.parametrize("setting", [None, 2])
def test_a_daemonic_process_maps_inline(setting: int | None) -> None:
    """As in a Celery prefork child, which multiprocessing forbids to start children."""
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.SimpleQueue[int] = ctx.SimpleQueue()
    child = ctx.Process(target=_size_in_daemon, args=(setting, out), daemon=True)
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert out.get() == 0


@pytest.mark.parametrize("rows", [7, 30])
def test_the_pool_starts_with_a_runs_first_full_batch(db_url: str, tmp_path: Path, rows: int) -> None:
    """A run of one batch short of full is mapped inline (no process forked for a webhook or a
    small file); a longer one in the pool from its first batch, with the same store and counts
    as mapping inline."""
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, customer_rows(rows))
    children: list[int] = []

    def count_children(_stream: object, _counts: dict[str, int]) -> None:
        children.append(len(multiprocessing.active_children()))

    summary = run_csv(
        db_url, path, batch_size=10, mapping=MAPPING, mapping_workers=2, on_batch=count_children
    )
    assert_counts_add_up(summary)
    assert summary.counts["created"] == rows
    if rows <= 10:
        assert children == [0]
    else:
        assert children[0] == 2  # the first batch was mapped in the pool
    stored = sorted(r["entity_source_id"] for r in table_rows(db_url, "customer"))
    assert stored == sorted(r[0] for r in customer_rows(rows))


def test_a_re_import_that_finds_every_row_unchanged_starts_no_pool(db_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, customer_rows(30))
    run_csv(db_url, path, batch_size=10, mapping=MAPPING, mapping_workers=2)
    children: list[int] = []

    def count_children(_stream: object, _counts: dict[str, int]) -> None:
        children.append(len(multiprocessing.active_children()))

    again = run_csv(db_url, path, batch_size=10, mapping=MAPPING, mapping_workers=2, on_batch=count_children)
    assert again.counts["unchanged"] == 30
    assert children == [0, 0, 0]


def test_a_re_import_with_a_few_changed_rows_a_batch_maps_them_inline(db_url: str, tmp_path: Path) -> None:
    """1 % changed: a batch of 100 has one row to map, under a tenth of the batch, and
    starts no pool; a file with every row changed does."""
    run_csv(
        db_url,
        write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, customer_rows(300)),
        batch_size=100,
        mapping=MAPPING,
    )
    children: list[int] = []

    def count_children(_stream: object, _counts: dict[str, int]) -> None:
        children.append(len(multiprocessing.active_children()))

    few = write_csv(tmp_path / "few.csv", CUSTOMER_HEADER, customer_rows(300, changed_every=100))
    again = run_csv(db_url, few, batch_size=100, mapping=MAPPING, mapping_workers=2, on_batch=count_children)
    assert (again.counts["updated"], again.counts["unchanged"]) == (3, 297)
    assert children == [0, 0, 0]

    children.clear()
    every = write_csv(tmp_path / "every.csv", CUSTOMER_HEADER, customer_rows(300, changed_every=1))
    moved = run_csv(
        db_url, every, batch_size=100, mapping=MAPPING, mapping_workers=2, on_batch=count_children
    )
    assert moved.counts["updated"] == 297  # every 100th had moved already
    assert max(children) == 2


@pytest.mark.parametrize(("records", "pooled"), [(9, False), (10, True)])
def test_only_a_full_first_batch_starts_the_pool(records: int, pooled: bool) -> None:
    """A first batch that fills the batch size is mapped in the pool (more batches follow); one
    that does not is mapped here, and forks nothing."""
    spec = load_mapping(MAPPING).spec
    batch = [
        SourceRecord(str(i), {"id": str(i), "email": f"p{i}@example.com"}, position=i) for i in range(records)
    ]
    mapper = BatchMapper(2, batch_size=10)
    try:
        mapped = mapper(batch, spec).result()
        assert (mapper.in_flight > 0) is pooled
        assert mapped.read == records
    finally:
        mapper.close()
