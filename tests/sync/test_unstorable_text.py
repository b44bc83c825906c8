"""A NUL the file's first 64 KiB did not show (where it would be refused as binary) rejects only its
own row, on either store, and the reject is recorded with the character escaped."""

from __future__ import annotations

from pathlib import Path

from models.text import storable
from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows

HEADER = "entitySourceId,email,firstname,lastname,updatedAt\n"


def test_a_nul_deep_in_a_file_rejects_its_row_and_the_rest_load(db_url: str, tmp_path: Path) -> None:
    good = [f"c-{i},person{i}@example.com,Ann{i},Lee,2025-01-01T10:00:00+00:00\n" for i in range(3000)]
    assert len("".join(good[:2500]).encode()) > 64 * 1024  # past the sample the file is sniffed in
    path = tmp_path / "f.csv"
    path.write_bytes(
        (
            HEADER
            + "".join(good[:2500])
            + "c-nul,nul@example.com,F\x00,Lee,2025-01-01T10:00:00+00:00\n"  # line 2502
            + "c-wide,wide@example.com,A\x00,B,x,y,z\n"  # line 2503: too many columns, with a NUL
            + "".join(good[2500:])
        ).encode()
    )

    summary = run_csv(db_url, path, preset_name="native")

    assert summary.status == "succeeded", summary.error
    assert (summary.counts["created"], summary.counts["rejected"]) == (3000, 2)
    assert_counts_add_up(summary)
    rejects = {r["line"]: r for r in table_rows(db_url, "sync_reject") if r["run_id"] == summary.run_id}
    assert rejects[2502]["reason"] == "unstorable_text" and "NUL" in rejects[2502]["message"]
    assert (
        rejects[2502]["raw"] == "c-nul,nul@example.com,F\\x00,Lee,2025-01-01T10:00:00+00:00"
    )  # its line, escaped
    assert rejects[2503]["reason"] == "column_count" and "A\\x00" in rejects[2503]["raw"]
    names = {r["entity_source_id"] for r in table_rows(db_url, "customer")}
    assert "c-nul" not in names and "c-wide" not in names and len(names) == 3000


def test_storable_escapes_what_the_store_cannot_keep_and_leaves_the_rest() -> None:
    assert storable("a\x00b") == "a\\x00b"
    assert storable("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    assert storable("Zoë 😀") == "Zoë 😀"
    assert storable(None) is None
