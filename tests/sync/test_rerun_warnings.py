"""A file's own warnings (a repeated header) are reported by every run of it, once per run."""

from __future__ import annotations

import csv
import gc
import warnings
from pathlib import Path
from typing import Any

import pytest

from sync.jobs import FanOut, queue_csv, resume_csv, run_csv
from sync.pipeline import RunSummary
from tests.sync.helpers import assert_counts_add_up, settings_for, table_rows
from tests.sync.helpers import run_csv as import_file

ROWS = 120


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "dup.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "firstname", "lastname", "phoneNumber", "phoneNumber"])
        writer.writerows([f"p{i}@example.com", f"P{i}", "Person", "", ""] for i in range(ROWS))
    return path


def _warnings(url: str, run_id: str) -> list[tuple[str, int | None]]:
    return sorted(
        (r["reason"], r["line"])
        for r in table_rows(url, "sync_reject")
        if r["run_id"] == run_id and r["severity"] == "warning"
    )


def _said(url: str, summary: RunSummary) -> tuple[int, list[tuple[str, int | None]]]:
    assert_counts_add_up(summary)
    return summary.counts["warnings"], _warnings(url, summary.run_id)


ONCE = (1, [("duplicate_header", 1)])


def test_a_re_import_of_the_same_file_reports_its_header_warning_again(db_url: str, tmp_path: Path) -> None:
    path = _file(tmp_path)
    first = import_file(db_url, path, batch_size=10)
    assert first.counts["created"] == ROWS
    assert _said(db_url, first) == ONCE
    again = import_file(db_url, path, batch_size=10)
    assert again.counts["unchanged"] == ROWS  # the first record too: skipped, not mapped
    assert _said(db_url, again) == ONCE


def test_a_fanned_out_re_import_reports_it_once_from_the_first_chunk(
    pg_only_url: str, tmp_path: Path
) -> None:
    url, path = pg_only_url, _file(tmp_path)
    settings = settings_for(url, batch_size=10, csv_fanout_min_bytes=1, csv_chunk_bytes=1024)
    for expected in ("created", "unchanged"):
        run_id = queue_csv(settings, path)
        fanned = run_csv(settings, run_id, token="t", fan_out=True)
        assert isinstance(fanned, FanOut) and len(fanned.chunks) > 2
        summary = run_csv(settings, run_id, token="t")  # the chunks, loaded in this process
        assert isinstance(summary, RunSummary)
        assert summary.counts[expected] == ROWS
        assert _said(url, summary) == ONCE


class Crash(Exception):
    pass


@pytest.mark.parametrize("earlier_runs", [0, 1])
def test_a_resumed_run_reports_it_once(db_url: str, tmp_path: Path, earlier_runs: int) -> None:
    path = _file(tmp_path)
    for _ in range(earlier_runs):
        import_file(db_url, path, batch_size=10)
    settings = settings_for(db_url, batch_size=10)
    run_id = queue_csv(settings, path)

    def crash_after_first(stream: Any, counts: dict[str, int]) -> None:
        raise Crash

    with pytest.raises(Crash):
        run_csv(settings, run_id, on_batch=crash_after_first)
    # The crashed run's reader is left suspended in the traceback's frames, its file open
    # until the collector reaps it: reaped here, where that is known and expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    summary = resume_csv(settings, run_id)
    assert summary.counts["read"] == ROWS
    assert _said(db_url, summary) == ONCE
