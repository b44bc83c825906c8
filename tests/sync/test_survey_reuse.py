"""A run of a file an earlier run surveyed under the same spec takes its findings instead of reading it again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sync.jobs.csv as csv_job
from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows

MAPPING = """
kind = "customers"
source = "t"
id = "id"
[fields]
email = "email"
birthday = "born"
"""

# The day comes first only on the last line; the id column's last value lost its digits.
ROWS = [*(f"{i},p{i}@example.com,01/02/1990" for i in range(30)), "7.02255E+12,z@example.com,13/02/1990"]


def _file(tmp_path: Path, rows: list[str], name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_text("id,email,born\n" + "\n".join(rows) + "\n")
    return path


def _mapping(tmp_path: Path) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(MAPPING)
    return path


def _surveys(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each file the import reads through for its survey (or for its repeated ids alone), from now on."""
    read: list[Path] = []
    survey, repeats = csv_job.survey_columns, csv_job.find_repeats

    def counted(stream: Any, spec: Any, **kw: Any) -> Any:
        read.append(stream.path)
        return survey(stream, spec, **kw)

    def counted_repeats(stream: Any, spec: Any) -> Any:
        read.append(stream.path)
        return repeats(stream, spec)

    monkeypatch.setattr(csv_job, "survey_columns", counted)
    monkeypatch.setattr(csv_job, "find_repeats", counted_repeats)
    return read


def _params(url: str, run_id: str) -> dict[str, Any]:
    params = next(r["params"] for r in table_rows(url, "sync_run", order_by="id") if r["id"] == run_id)
    return params if isinstance(params, dict) else json.loads(params)


def test_an_unchanged_file_is_not_surveyed_again(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, mapping = _file(tmp_path, ROWS), _mapping(tmp_path)
    first = run_csv(db_url, path, mapping=mapping)
    read = _surveys(monkeypatch)
    again = run_csv(db_url, path, mapping=mapping)
    assert read == []
    assert_counts_add_up(again)
    assert again.counts["unchanged"] == first.counts["created"] + first.counts["updated"]
    before, after = _params(db_url, first.run_id), _params(db_url, again.run_id)
    assert after["date_orders"] == before["date_orders"] == {"born": "day-first"}
    assert after["id_damage"] == before["id_damage"]
    assert after["id_damage"]["columns"]["id"]["why"] == "rounded"
    # The damaged ids are reported by this run too, from what it took over.
    warned = [r for r in table_rows(db_url, "sync_reject") if r["run_id"] == again.run_id]
    assert [r["reason"] for r in warned] == ["damaged_id"]


def test_a_changed_file_or_another_spec_is_surveyed_again(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, mapping = _file(tmp_path, ROWS), _mapping(tmp_path)
    run_csv(db_url, path, mapping=mapping)
    read = _surveys(monkeypatch)
    # One byte changed, on the line that proves the order: it proves the other order now.
    changed = _file(tmp_path, [*ROWS[:-1], "7.02255E+12,z@example.com,02/13/1990"], "g.csv")
    summary = run_csv(db_url, changed, mapping=mapping)
    assert read == [changed]
    assert _params(db_url, summary.run_id)["date_orders"] == {"born": "month-first"}
    # The same file under another spec (a time zone is part of it).
    summary = run_csv(db_url, changed, mapping=mapping, timezone="Europe/Berlin")
    assert read == [changed, changed]
    assert_counts_add_up(summary)


def test_the_ids_a_file_repeats_are_recorded_and_taken_over_with_its_survey(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Id 3 is read again on the last line (line 12): the first run's pass finds it.
    rows = [*(f"{i},p{i}@example.com,01/02/1990" for i in range(10)), "3,new3@example.com,13/02/1990"]
    path, mapping = _file(tmp_path, rows), _mapping(tmp_path)
    first = run_csv(db_url, path, mapping=mapping, batch_size=4)
    assert _params(db_url, first.run_id)["repeats"] == {"3": 12}
    read = _surveys(monkeypatch)
    again = run_csv(db_url, path, mapping=mapping, batch_size=4)
    assert read == []
    assert _params(db_url, again.run_id)["repeats"] == {"3": 12}
    assert again.counts["duplicates"] == first.counts["duplicates"] == 1
    assert again.counts["updated"] == again.counts["created"] == 0
