"""What a spreadsheet does to an export it re-saves: ids it rounded or re-cased, dates it re-wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import FatalSourceError
from sync.mapping import FieldError, read_datetime
from tests.sync.helpers import assert_counts_add_up, run_csv
from tests.sync.helpers import decoded_rows as table_rows
from tests.sync.helpers import write_file as write

EXE = Path(sys.executable).with_name("customer-sync")


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


# --- date-times a spreadsheet re-saved: read by the column's order, in the layout's zone ---

DL_HEADER = "Id,FirstName,LastName,Email,Birthdate,SystemModstamp\n"


def _utc(value: datetime | str | None) -> str | None:
    # SQLite hands the stamp back as text, naive UTC.
    if value is None:
        return None
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def stamps(url: str) -> dict[str, str | None]:
    return {r["source_id"]: _utc(r["modstamp"]) for r in table_rows(url, "customer_source")}


def test_day_first_stamps_are_read_so_an_older_file_does_not_win(db_url: str, tmp_path: Path) -> None:
    # A Data Loader extract after Excel (a day-first locale) re-saved it, then an older one.
    newer = write(
        tmp_path,
        DL_HEADER
        + "003D000000QVIaKIAX,Ann,New,ann@example.com,05-11-1990,09-06-2026 16:14\n"
        + "0015000000VALDtAAP,Val,New,val@example.com,25-12-1985,13-06-2026 08:05\n",
        "newer.csv",
    )
    older = write(
        tmp_path,
        DL_HEADER
        + "003D000000QVIaKIAX,Ann,Old,ann@example.com,05-11-1990,01-06-2026 10:00\n"
        + "0015000000VALDtAAP,Val,Old,val@example.com,25-12-1985,20-05-2026 09:30\n",
        "older.csv",
    )
    first = run_csv(db_url, newer, preset_name="salesforce-dataloader")
    assert warnings(db_url, first.run_id) == []
    assert stamps(db_url) == {
        "003D000000QVIaKIAX": "2026-06-09T16:14:00+00:00",
        "0015000000VALDtAAP": "2026-06-13T08:05:00+00:00",
    }
    second = run_csv(db_url, older, preset_name="salesforce-dataloader")
    assert_counts_add_up(second)
    assert (second.counts["created"], second.counts["updated"]) == (0, 0)
    people = by_email(db_url)
    assert (people["ann@example.com"]["lastname"], people["val@example.com"]["lastname"]) == ("New", "New")
    # 25-12-1985 proves the column day-first, so 05-11-1990 is the 5th of November.
    assert str(people["ann@example.com"]["birthday"]) == "1990-11-05"
    assert str(people["val@example.com"]["birthday"]) == "1985-12-25"


def test_month_first_stamps_with_am_pm_read_in_the_zone_given(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "entitySourceId,email,updatedAt\n"
        "c-1,ann@example.com,6/9/2026 4:14 PM\nc-2,bob@example.com,6/13/2026 12:05 AM\n"
        "c-3,cy@example.com,2026-06-09T16:14:00Z\n",
    )
    summary = run_csv(db_url, path, timezone="Europe/Berlin")
    assert warnings(db_url, summary.run_id) == []
    # Berlin is two hours ahead in June; a stamp that names its zone keeps it.
    assert stamps(db_url) == {
        "c-1": "2026-06-09T14:14:00+00:00",
        "c-2": "2026-06-12T22:05:00+00:00",
        "c-3": "2026-06-09T16:14:00+00:00",
    }


def test_a_mapping_file_names_the_zone_and_utc_is_the_default(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "Nr,Mail,Changed\n1,ann@example.com,09.06.2026 16:14\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'id = "Nr"\nmodstamp = "Changed"\ntimezone = "America/New_York"\n[fields]\nemail = "Mail"\n'
    )
    run_csv(db_url, path, mapping=mapping)
    assert stamps(db_url) == {"1": "2026-06-09T20:14:00+00:00"}
    mapping.write_text('id = "Nr"\nmodstamp = "Changed"\n[fields]\nemail = "Mail"\n')
    write(tmp_path, "Nr,Mail,Changed\n1,ann@example.com,10.06.2026 16:14\n")
    run_csv(db_url, path, mapping=mapping)
    assert stamps(db_url) == {"1": "2026-06-10T16:14:00+00:00"}


def test_an_unknown_zone_is_one_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "email,updatedAt\nann@example.com,2026-06-09 16:14\n")
    with pytest.raises(FatalSourceError, match="unknown time zone 'Mars/Olympus'"):
        run_csv("sqlite:///" + str(tmp_path / "s.db"), path, timezone="Mars/Olympus")
    mapping = tmp_path / "m.toml"
    mapping.write_text('timezone = "CEST+2"\n[fields]\nemail = "email"\n')
    with pytest.raises(FatalSourceError, match="unknown time zone 'CEST\\+2'"):
        run_csv("sqlite:///" + str(tmp_path / "s.db"), path, mapping=mapping)


def test_a_column_whose_values_prove_no_order_warns_and_is_not_guessed(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        DL_HEADER
        + "003D000000QVIaKIAX,Ann,Lee,ann@example.com,05-11-1990,09-06-2026 16:14\n"
        + "0015000000VALDtAAP,Val,Lee,val@example.com,1985-12-25,01-02-2026 10:00\n",
    )
    summary = run_csv(db_url, path, preset_name="salesforce-dataloader")
    assert sorted((w["reason"], w["field"], w["line"]) for w in warnings(db_url, summary.run_id)) == [
        ("ambiguous_date", "birthday", 2),
        ("ambiguous_date", "modstamp", 2),
        ("ambiguous_date", "modstamp", 3),
    ]
    assert set(stamps(db_url).values()) == {None}
    people = by_email(db_url)
    assert people["ann@example.com"]["birthday"] is None
    assert str(people["val@example.com"]["birthday"]) == "1985-12-25"


def test_a_column_that_proves_its_order_wins_over_the_layouts_setting(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "Mail,Born\nann@example.com,05-11-1990\nval@example.com,25-12-1985\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('date_order = "month-first"\n[fields]\nemail = "Mail"\nbirthday = "Born"\n')
    summary = run_csv(db_url, path, mapping=mapping)
    assert warnings(db_url, summary.run_id) == []
    assert str(by_email(db_url)["ann@example.com"]["birthday"]) == "1990-11-05"


def test_the_cli_takes_a_time_zone_and_refuses_an_unknown_one_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "email,updatedAt\nann@example.com,09.06.2026 16:14\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY", "REDIS"))}

    def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = [str(EXE), "import", "csv", str(path), *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False)

    bad = cli("--timezone", "Mars/Olympus")
    lines = bad.stderr.decode().strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "unknown time zone 'Mars/Olympus'" in lines[0], lines
    good = cli("--timezone", "Europe/Berlin", "--json")
    assert good.returncode == 0, good.stderr
    assert stamps(f"sqlite:///{tmp_path}/customer_sync.db") == {
        "email:ann@example.com": "2026-06-09T14:14:00+00:00"
    }


@pytest.mark.parametrize(
    ("value", "order", "expected"),
    [
        ("09-06-2026 16:14", "day-first", "2026-06-09T16:14:00+00:00"),
        ("13/06/2026 4:14:05 PM", None, "2026-06-13T16:14:05+00:00"),
        ("6/9/2026 12:30 AM", "month-first", "2026-06-09T00:30:00+00:00"),
        ("6/9/2026 12:30 p.m.", "month-first", "2026-06-09T12:30:00+00:00"),
        ("2026/6/9 16:14:05.25", None, "2026-06-09T16:14:05.250000+00:00"),
        ("2026-06-09T16:14:00.000+0000", None, "2026-06-09T16:14:00+00:00"),
        ("46182.75", None, "2026-06-09T18:00:00+00:00"),
        ("09-06-2026", "day-first", "2026-06-09T00:00:00+00:00"),
    ],
)
def test_spreadsheet_date_times_are_read(value: str, order: str | None, expected: str) -> None:
    assert read_datetime(value, order).isoformat() == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("09-06-2026 16:14", "ambiguous_date"),
        ("13/06/2026 13:00 PM", "invalid_datetime"),
        ("soon", "invalid_datetime"),
    ],
)
def test_unreadable_date_times_say_why(value: str, reason: str) -> None:
    with pytest.raises(FieldError) as caught:
        read_datetime(value, None)
    assert caught.value.reason == reason


# --- Salesforce rows whose phone needs a country ---


def test_a_phone_that_does_not_read_tries_mobile_phone_and_the_country_code(
    db_url: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "Id,FirstName,LastName,Email,Phone,MobilePhone,MailingCountry,MailingCountryCode\n"
        "003D000000QVIaKIAX,Ann,Lee,ann@example.com,12,+49 171 1234567,,\n"
        "0015000000VALDtAAP,Val,Lee,val@example.com,030 1234567,,Bundesrepublik,DE\n"
        "0015000000VALDuAAP,Uma,Lee,uma@example.com,030 1234567,,,\n",
    )
    summary = run_csv(db_url, path, preset_name="salesforce-dataloader")
    people = by_email(db_url)
    assert people["ann@example.com"]["phone_number"] == "+491711234567"
    assert (people["val@example.com"]["phone_number"], people["val@example.com"]["country"]) == (
        "+49301234567",
        "DE",
    )
    # Nothing else to try: read in DEFAULT_PHONE_REGION (US), where it is no number.
    assert people["uma@example.com"]["phone_number"] is None
    found = sorted((w["reason"], w["field"], w["line"]) for w in warnings(db_url, summary.run_id))
    assert found == [
        ("invalid_country", "country", 3),
        ("invalid_phone", "phoneNumber", 2),
        ("invalid_phone", "phoneNumber", 4),
    ]
    fell_back = [w["message"] for w in warnings(db_url, summary.run_id) if w["line"] in (2, 3)]
    assert any("'MobilePhone' was read instead" in m for m in fell_back)
    assert any("'MailingCountryCode' was read instead" in m for m in fell_back)
