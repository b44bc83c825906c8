"""Files are streamed in constant memory: ten times the rows, (nearly) the same peak RSS.

Each import runs as `customer-sync import csv` in a fresh process, under a fresh wrapper
process that reads the import's peak RSS from `getrusage(RUSAGE_CHILDREN)` once it has exited,
so no other process's peak (pytest's, an earlier import's) is mixed into the figure.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXE = Path(sys.executable).with_name("customer-sync")
SMALL, LARGE = 20_000, 200_000
# Allowed growth of the peak from 20,000 to 200,000 rows. Reading the large file whole would
# add at least its size (~40 MiB as text; several times that as rows); what legitimately grows
# (allocator fragmentation, SQLite's bounded page cache) stays well under this.
MARGIN_MIB = 25
# A wide column that goes to extraInfo, so a file held in memory shows.
NOTE = "n" * 150

_MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
print(json.dumps({"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-2000:],
                  "peak_mib": peak_kib / 1024}))
"""


def write_export(path: Path, rows: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["entitySourceId", "email", "firstname", "lastname", "note"])
        writer.writerows([f"c{i}", f"p{i}@example.com", "Ann", f"Lee{i % 97}", NOTE] for i in range(rows))
    return path


def peak_rss_of_import(path: Path, workdir: Path) -> tuple[float, dict[str, object]]:
    """Import `path` into a new SQLite store in `workdir`; the import process's peak RSS in MiB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "BATCH_SIZE", "LOG_"))}
    env["LOG_LEVEL"] = "WARNING"
    # Batches of 1,000, so that the smaller file too runs long enough for what a run keeps in
    # flight (a batch writing, the mapping pool's batches mapped ahead) to reach its steady
    # size: with 5,000, 20,000 rows end before the pool's batches are all under way.
    env["BATCH_SIZE"] = "1000"
    workdir.mkdir()
    measured = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            str(EXE),
            "import",
            "csv",
            str(path),
            "--preset",
            "native",
            "--json",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=True,
    )
    result = json.loads(measured.stdout)
    assert result["returncode"] == 0, result["stderr"]
    return float(result["peak_mib"]), json.loads(result["stdout"])


def test_a_file_ten_times_larger_imports_in_the_same_memory(tmp_path: Path) -> None:
    small_peak, small = peak_rss_of_import(write_export(tmp_path / "small.csv", SMALL), tmp_path / "small")
    large_file = write_export(tmp_path / "large.csv", LARGE)
    large_peak, large = peak_rss_of_import(large_file, tmp_path / "large")

    # Both imports did the whole job.
    assert (small["status"], small["read"], small["created"]) == ("succeeded", SMALL, SMALL)
    assert (large["status"], large["read"], large["created"]) == ("succeeded", LARGE, LARGE)
    assert large_file.stat().st_size > 35 * 2**20  # larger than the margin: holding it whole would show
    assert large_peak <= small_peak + MARGIN_MIB, (
        f"peak RSS {large_peak:.0f} MiB for {LARGE:,} rows vs {small_peak:.0f} MiB for {SMALL:,}"
    )
