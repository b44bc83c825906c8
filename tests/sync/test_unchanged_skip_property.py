"""Property: a re-import that skips unchanged rows before mapping ends exactly where mapping every row ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import models
import sync.pipeline.repeats as repeats_module
import sync.pipeline.skip as skip_module
from bench.exports import CUSTOMER_HEADER, customer_rows, write_csv
from models import get_engine
from sync.jobs import import_csv, resume_csv
from sync.pipeline import new_run_id
from tests.conftest import truncate_all
from tests.sync.helpers import assert_counts_add_up, run_csv, settings_for, table_rows

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


def _files(
    factory: pytest.TempPathFactory, fates: list[str], repeats: list[tuple[int, bool, int]]
) -> tuple[Path, Path]:
    """The first file (BASE) and the second, re-imported one."""
    folder = factory.mktemp("files")
    first = write_csv(folder / "first.csv", CUSTOMER_HEADER, iter(BASE))
    return first, write_csv(folder / "second.csv", CUSTOMER_HEADER, iter(_second_file(fates, repeats)))


def _mapping_every_row(monkeypatch: pytest.MonkeyPatch, url: str, path: Path, batch_size: int) -> Any:
    """Import `path` into `url` with every row mapped, as the skipping store's reference."""
    with monkeypatch.context() as patch:
        # The store is taken for one that has never seen the source: every row is mapped.
        patch.setattr(skip_module, "_holds_any", lambda *_: False)
        return run_csv(url, path, batch_size=batch_size, mapping=MAPPING)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fates=st.lists(_fate, min_size=len(BASE), max_size=len(BASE)),
    repeats=st.lists(_repeat, max_size=4),
    batch_size=st.integers(1, 7),
)
# Found by the search: a row as it was, a changed copy, the row again (the last line wins).
@example(fates=["same"] * len(BASE), repeats=[(0, True, 0), (0, False, 0)], batch_size=3)
def test_skipping_unchanged_rows_ends_as_mapping_every_row(
    stores: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    fates: list[str],
    repeats: list[tuple[int, bool, int]],
    batch_size: int,
) -> None:
    skipping, mapping_all = stores
    first, second = _files(tmp_path_factory, fates, repeats)
    summaries = {}
    for url in stores:
        truncate_all(get_engine(url))
        run_csv(url, first, mapping=MAPPING)
        if url == mapping_all:
            summaries[url] = _mapping_every_row(monkeypatch, url, second, batch_size)
        else:
            summaries[url] = run_csv(url, second, batch_size=batch_size, mapping=MAPPING)
        assert_counts_add_up(summaries[url])
    assert summaries[skipping].counts == summaries[mapping_all].counts
    assert _store(skipping) == _store(mapping_all)


class _Crash(Exception):
    """Stands for the process dying after a batch committed."""


def _crash_after(batches: int) -> Any:
    seen = [0]

    def on_batch(_stream: Any, _counts: dict[str, int]) -> None:
        seen[0] += 1
        if seen[0] == batches:
            raise _Crash()

    return on_batch


def _crashed_and_resumed(url: str, path: Path, batch_size: int, crash_after: int) -> Any:
    """Import `path` into `url`, the process dying after `crash_after` batches (0: never), then
    resume the run: its summary."""
    config = settings_for(url, batch_size=batch_size)
    run_id = new_run_id()
    try:
        return import_csv(
            config,
            path,
            mapping=MAPPING,
            run_id=run_id,
            on_batch=_crash_after(crash_after) if crash_after else None,
        )
    except _Crash:
        return resume_csv(config, run_id)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fates=st.lists(_fate, min_size=len(BASE), max_size=len(BASE)),
    repeats=st.lists(_repeat, max_size=4),
    batch_size=st.integers(1, 5),
    crash_after=st.integers(1, 4),
)
@example(fates=["same"] * len(BASE), repeats=[(0, True, 0), (0, False, 0)], batch_size=3, crash_after=1)
def test_a_run_resumed_after_a_crash_ends_as_mapping_every_row(
    stores: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    fates: list[str],
    repeats: list[tuple[int, bool, int]],
    batch_size: int,
    crash_after: int,
) -> None:
    """The ids a run skips as unchanged are kept in memory, not in `sync_seen`: a resumed run
    finds them again from the rows it re-reads, so repeats after the crash still count as such."""
    skipping, mapping_all = stores
    first, second = _files(tmp_path_factory, fates, repeats)
    summaries = {}
    for url in stores:
        truncate_all(get_engine(url))
        run_csv(url, first, mapping=MAPPING)
        if url == mapping_all:
            summaries[url] = _mapping_every_row(monkeypatch, url, second, batch_size)
            continue
        summaries[url] = _crashed_and_resumed(url, second, batch_size, crash_after)
        assert_counts_add_up(summaries[url])
    assert summaries[skipping].counts == summaries[mapping_all].counts
    assert _store(skipping) == _store(mapping_all)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fates=st.lists(_fate, min_size=len(BASE), max_size=len(BASE)),
    repeats=st.lists(_repeat, max_size=4),
    batch_size=st.integers(1, 5),
    crash_after=st.integers(0, 4),
)
@example(fates=["same"] * len(BASE), repeats=[(0, True, 0), (0, False, 0)], batch_size=3, crash_after=0)
@example(fates=["same"] * len(BASE), repeats=[(0, True, 0), (0, False, 0)], batch_size=3, crash_after=1)
def test_on_postgres_a_batch_split_while_the_one_before_is_written_ends_as_mapping_every_row(
    pg_only_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    fates: list[str],
    repeats: list[tuple[int, bool, int]],
    batch_size: int,
    crash_after: int,
) -> None:
    """On PostgreSQL the writer thread commits a batch while the next is split and mapped (the
    driver lets both run): what the split read may be a batch old, and must not show.

    `crash_after` 0 runs to the end; else the run dies after that many batches and is resumed.
    """
    url = pg_only_url
    first, second = _files(tmp_path_factory, fates, repeats)
    truncate_all(get_engine(url))
    run_csv(url, first, mapping=MAPPING)
    reference = _mapping_every_row(monkeypatch, url, second, batch_size)
    expected = _store(url)

    truncate_all(get_engine(url))
    run_csv(url, first, mapping=MAPPING)
    summary = _crashed_and_resumed(url, second, batch_size, crash_after)
    assert_counts_add_up(summary)
    assert summary.counts == reference.counts
    assert _store(url) == expected


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fates=st.lists(_fate, min_size=len(BASE), max_size=len(BASE)),
    repeats=st.lists(_repeat, min_size=1, max_size=4),
    batch_size=st.integers(1, 5),
    crash_after=st.integers(1, 4),
)
@example(fates=["same"] * len(BASE), repeats=[(0, True, 0), (0, False, 0)], batch_size=3, crash_after=1)
def test_a_first_import_resumed_after_a_crash_counts_and_stores_as_one_clean_run(
    db_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    fates: list[str],
    repeats: list[tuple[int, bool, int]],
    batch_size: int,
    crash_after: int,
) -> None:
    """Ids read again after the crash still count as duplicates, and the later line still wins."""
    _, path = _files(tmp_path_factory, fates, repeats)
    truncate_all(get_engine(db_url))
    reference = run_csv(db_url, path, batch_size=batch_size, mapping=MAPPING)
    expected = _store(db_url)

    truncate_all(get_engine(db_url))
    summary = _crashed_and_resumed(db_url, path, batch_size, crash_after)
    assert_counts_add_up(summary)
    assert summary.counts == reference.counts
    assert _store(db_url) == expected


def test_a_row_another_stream_rewrote_before_the_resume_still_has_been_read(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ids a run loaded are noted in `sync_seen`, not only found again on resume by the raw
    # hash of the line that wrote them: another stream of the same source (the Salesforce API
    # sync beside a Data Loader extract) may rewrite that row, with its own hash, in between.
    # A line the file repeats is held until its last line, so none is loaded before the crash
    # unless no more can be held: with none held, each line applies in turn, as before.
    monkeypatch.setattr(repeats_module, "HOLD_LIMIT", 0)
    path = write_csv(tmp_path / "f.csv", CUSTOMER_HEADER, iter([*BASE, BASE[0]]))
    reference = run_csv(db_url, path, batch_size=3, mapping=MAPPING)
    assert reference.counts["duplicates"] == 1

    truncate_all(get_engine(db_url))
    config = settings_for(db_url, batch_size=3)
    run_id = new_run_id()
    with pytest.raises(_Crash):
        import_csv(config, path, mapping=MAPPING, run_id=run_id, on_batch=_crash_after(1))
    with get_engine(db_url).begin() as conn:
        rewritten = conn.execute(
            sa.text("UPDATE customer_source SET raw_hash = 'another-stream' WHERE source_id = :id"),
            {"id": BASE[0][0]},
        )
        assert rewritten.rowcount == 1
    summary = resume_csv(config, run_id)
    assert_counts_add_up(summary)
    assert summary.counts == reference.counts
