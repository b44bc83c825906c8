"""What a spreadsheet does to an export it re-saves: ids it rounded or re-cased."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.sync.helpers import assert_counts_add_up, run_csv
from tests.sync.helpers import table_rows as _table_rows


def table_rows(url: str, table: str) -> list[dict[str, Any]]:
    # SQLite hands JSON columns back as text; compare them as values on both stores.
    rows = _table_rows(url, table)
    for row in rows:
        for key in ("extra_info", "payload"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
    return rows


def write(tmp_path: Path, text: str, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def warnings(url: str, run_id: str) -> list[dict[str, Any]]:
    return [r for r in table_rows(url, "sync_reject") if r["run_id"] == run_id and r["severity"] == "warning"]


def by_email(url: str) -> dict[str, dict[str, Any]]:
    return {r["email"]: r for r in table_rows(url, "customer")}


# --- ids in scientific notation ---

ROUNDED = (
    "Customer ID,First Name,Email,Phone\n"
    "7.06971E+12,Ann,ann@example.com,\n"
    "7.06971E+12,Bob,bob@example.com,\n"
    "123456,Cy,cy@example.com,\n"
    "7.02255E+12,Di,,+4930123456\n"
    "7.02255E+12,Ed,,\n"
)


def test_two_people_sharing_a_rounded_id_land_as_two_customers(db_url: str, tmp_path: Path) -> None:
    # Batches of two: the warning is said once per run, not once per batch.
    summary = run_csv(db_url, write(tmp_path, ROUNDED), batch_size=2)
    assert_counts_add_up(summary)
    counts = summary.counts
    assert (counts["read"], counts["created"], counts["duplicates"], counts["rejected"]) == (5, 4, 0, 1)
    people = by_email(db_url)
    assert (people["ann@example.com"]["firstname"], people["bob@example.com"]["firstname"]) == ("Ann", "Bob")
    # The whole column is damaged, so even the short id that kept its digits is not keyed on.
    assert sorted(r["source_id"] for r in table_rows(db_url, "customer_source")) == [
        "email:ann@example.com",
        "email:bob@example.com",
        "email:cy@example.com",
        "phone:+4930123456",
    ]
    # The damaged value is kept, as every column nothing reads is.
    assert people["ann@example.com"]["extra_info"] == {"Customer ID": "7.06971E+12"}
    (warning,) = warnings(db_url, summary.run_id)
    assert (warning["reason"], warning["line"]) == ("damaged_id", 1)
    assert warning["message"].startswith("5 damaged ids")
    assert "'Customer ID'" in warning["message"] and "7.06971E+12" in warning["message"]
    assert summary.counts["warnings"] == 1
    (reject,) = [r for r in table_rows(db_url, "sync_reject") if r["severity"] == "reject"]
    assert (reject["reason"], reject["line"]) == ("no_identifier", 6)
    assert summary.columns["Customer ID"] == "extraInfo"


def test_an_id_column_without_scientific_notation_is_keyed_on(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path, "Customer ID,Email\n7069710000001,ann@example.com\n7069710000002,bob@example.com\n"
    )
    summary = run_csv(db_url, path)
    assert sorted(r["source_id"] for r in table_rows(db_url, "customer_source")) == [
        "7069710000001",
        "7069710000002",
    ]
    assert warnings(db_url, summary.run_id) == []


# --- Salesforce ids that lost their case ---

SF_HEADER = "Id,FirstName,LastName,Email,SystemModstamp\n"
# Ids a tool upper-cased: 003D000000QVIaK and 003D000000QViAK became one.
UPPER_15 = ["003D000000QVIAK", "003D000000QVIAK", "003D000000QVBCD", "003D000000QVEFG", "003D000000QVHJK"]


def test_a_column_of_15_character_ids_that_lost_their_case_is_not_keyed_on(
    db_url: str, tmp_path: Path
) -> None:
    rows = "".join(f"{sid},P{n},Lee,p{n}@example.com,\n" for n, sid in enumerate(UPPER_15))
    summary = run_csv(db_url, write(tmp_path, SF_HEADER + rows), preset_name="salesforce-dataloader")
    assert_counts_add_up(summary)
    assert (summary.counts["created"], summary.counts["duplicates"]) == (5, 0)
    assert {r["source_id"] for r in table_rows(db_url, "customer_source")} == {
        f"email:p{n}@example.com" for n in range(5)
    }
    (warning,) = warnings(db_url, summary.run_id)
    assert warning["reason"] == "damaged_id" and warning["message"].startswith("5 damaged ids")


def test_a_few_upper_case_15_character_ids_prove_nothing_and_are_keyed_on(
    db_url: str, tmp_path: Path
) -> None:
    rows = "".join(f"{sid},P{n},Lee,p{n}@example.com,\n" for n, sid in enumerate(UPPER_15[2:4]))
    summary = run_csv(db_url, write(tmp_path, SF_HEADER + rows), preset_name="salesforce-dataloader")
    assert {r["source_id"] for r in table_rows(db_url, "customer_source")} == {
        "003D000000QVBCDIA5",
        "003D000000QVEFGIA5",
    }
    assert warnings(db_url, summary.run_id) == []


def test_an_18_character_id_that_lost_its_case_gets_it_back_from_its_suffix(
    db_url: str, tmp_path: Path
) -> None:
    extract = write(
        tmp_path, SF_HEADER + "0015000000VALDtAAP,Val,Old,val@example.com,2024-01-01T00:00:00Z\n", "a.csv"
    )
    resaved = write(
        tmp_path,
        SF_HEADER
        + "0015000000VALDTAAP,Val,New,val@example.com,2024-02-01T00:00:00Z\n"
        + "003d000000qviakiax,Ann,Lee,ann@example.com,2024-02-01T00:00:00Z\n",
        "b.csv",
    )
    run_csv(db_url, extract, preset_name="salesforce-dataloader")
    second = run_csv(db_url, resaved, preset_name="salesforce-dataloader")
    assert (second.counts["created"], second.counts["updated"]) == (1, 1)
    assert sorted(r["source_id"] for r in table_rows(db_url, "customer_source")) == [
        "0015000000VALDtAAP",
        "003D000000QVIaKIAX",
    ]
    assert by_email(db_url)["val@example.com"]["lastname"] == "New"
    (warning,) = warnings(db_url, second.run_id)
    assert warning["reason"] == "damaged_id"
    assert warning["message"] == (
        "2 damaged ids: 2 18-character Salesforce ids had lost their case, restored from their suffix"
    )
