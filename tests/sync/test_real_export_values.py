"""Values from real exports: lengths, e-mails, phones, dates, ZIPs, streets and Salesforce ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.sync.helpers import decoded_rows as table_rows
from tests.sync.helpers import run_csv
from tests.sync.helpers import write_file as write


def issues(url: str, run_id: str, severity: str = "warning") -> list[tuple[str, str | None, int | None]]:
    return sorted(
        (r["reason"], r["field"], r["line"])
        for r in table_rows(url, "sync_reject")
        if r["run_id"] == run_id and r["severity"] == severity
    )


def by_email(url: str) -> dict[str, dict[str, Any]]:
    return {r["email"]: r for r in table_rows(url, "customer")}


# --- 6. over-long values: limits from the models, on both stores ---


def test_an_over_long_name_or_street_is_dropped_and_the_other_rows_load(
    db_url: str, shared_fixtures: Path
) -> None:
    summary = run_csv(db_url, shared_fixtures / "hunt" / "long_firstname_over_150_postgres.csv")
    assert summary.status == "succeeded"
    assert summary.counts["created"] == 3
    people = by_email(db_url)
    assert people["emo.j@example.com"]["firstname"] == "Zoë 🌸"
    assert people["emo.j@example.com"]["lastname"] == "O\u2019Brien"  # its trailing zero-width space is gone
    assert people["rtl.a@example.com"]["firstname"] == "\u202eنور"
    assert people["rtl.a@example.com"]["lastname"] == "כהן"
    long = people["long.f@example.com"]
    assert (long["firstname"], long["lastname"], long["street"], long["city"]) == ("", "Long", None, "Köln")
    assert issues(db_url, summary.run_id) == [("too_long", "firstname", 4), ("too_long", "street", 4)]


def test_an_over_long_identifier_rejects_the_row(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "entitySourceId,email,firstname\n" + "x" * 300 + ",a@example.com,Al\nok-1,b@example.com,Bo\n",
    )
    summary = run_csv(db_url, path, preset_name="native")
    assert (summary.counts["created"], summary.counts["rejected"]) == (1, 1)
    assert issues(db_url, summary.run_id, "reject") == [("too_long", "entitySourceId", 2)]


# --- 7. e-mails ---


def test_invisible_characters_around_e_mails_are_stripped(db_url: str, shared_fixtures: Path) -> None:
    summary = run_csv(db_url, shared_fixtures / "hunt" / "email_zero_width_chars.csv")
    assert (summary.counts["created"], summary.counts["rejected"]) == (3, 0)
    assert set(by_email(db_url)) == {"zed.w@example.com", "ivy.o@example.com", "gus@example.com"}


def test_no_break_spaces_and_joiners_are_stripped_too(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,firstname\n\u00a0nb@example.com\u2060,Nb\n\u200dzw@exa\u200bmple.com\u00a0,Zw\n"
        "in\u00a0ner@example.com,In\nnn\u202fx@example.com,Nn\n",  # inside an address too
    )
    summary = run_csv(db_url, path)
    assert summary.counts["created"] == 4
    assert set(by_email(db_url)) == {
        "nb@example.com",
        "zw@example.com",
        "inner@example.com",
        "nnx@example.com",
    }


def test_special_use_domains_are_kept_with_a_warning(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,firstname\n"
        "t@shop.test,T\ne@shop.example,E\ni@nowhere.invalid,I\nl@printer.localhost,L\n"
        "m@nas.local,M\nplain@example.com,P\n",
    )
    summary = run_csv(db_url, path)
    assert (summary.counts["created"], summary.counts["rejected"]) == (6, 0)
    assert set(by_email(db_url)) == {
        "t@shop.test",
        "e@shop.example",
        "i@nowhere.invalid",
        "l@printer.localhost",
        "m@nas.local",
        "plain@example.com",
    }
    assert issues(db_url, summary.run_id) == [("special_use_domain", "email", line) for line in range(2, 7)]


def test_an_internationalised_domain_is_one_customer_in_either_spelling(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "entitySourceId,email,firstname\n1,Ann@bücher.example.com,Ann\n2,ann@xn--bcher-kva.example.com,Ann\n",
    )
    summary = run_csv(db_url, path, preset_name="native")
    assert summary.counts["created"] == 1
    (customer,) = table_rows(db_url, "customer")
    assert customer["email"] == "ann@bücher.example.com"
    assert {r["customer_pk"] for r in table_rows(db_url, "customer_source")} == {customer["pk"]}


# --- 8. phones ---


def test_default_phone_region_reads_national_numbers(db_url: str, shared_fixtures: Path) -> None:
    path = shared_fixtures / "hunt" / "phone_national_no_country.csv"
    summary = run_csv(db_url, path)
    assert issues(db_url, summary.run_id) == []
    assert {r["email"]: r["phone_number"] for r in table_rows(db_url, "customer")} == {
        "q1@example.com": "+14155550134",
        "q2@example.com": "+12125550002",
    }


def test_phone_region_precedence_row_country_then_mapping_then_setting(db_url: str, tmp_path: Path) -> None:
    csv_path = write(
        tmp_path,
        "mail,tel,land\nfr@example.com,01 42 68 53 00,FR\ngb@example.com,020 7946 0000,\n",
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'phone_region = "GB"\n[fields]\nemail = "mail"\nphoneNumber = "tel"\ncountry = "land"\n'
    )
    summary = run_csv(db_url, csv_path, mapping=mapping, default_phone_region="DE")
    assert summary.counts["created"] == 2
    assert {e: r["phone_number"] for e, r in by_email(db_url).items()} == {
        "fr@example.com": "+33142685300",
        "gb@example.com": "+442079460000",
    }


def test_the_setting_applies_when_nothing_else_says(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "email,phoneNumber\nde@example.com,030 1234567\n")
    run_csv(db_url, path, default_phone_region="DE")
    assert by_email(db_url)["de@example.com"]["phone_number"] == "+49301234567"


def test_a_country_code_typed_without_plus_is_read_as_one(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,phoneNumber,country\n"
        "de@example.com,491773333333,DE\n"
        "us@example.com,14155550134,US\n"
        "amb@example.com,6589430185,US\n",
    )
    summary = run_csv(db_url, path)
    people = by_email(db_url)
    assert people["de@example.com"]["phone_number"] == "+491773333333"
    assert people["us@example.com"]["phone_number"] == "+14155550134"
    # Both readings are real numbers (a US one, a Singapore one): the national one, with a warning.
    assert people["amb@example.com"]["phone_number"] == "+16589430185"
    assert issues(db_url, summary.run_id) == [("ambiguous_phone", "phoneNumber", 4)]


def test_an_extension_is_kept_in_extra_info(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,phoneNumber,country\nx@example.com,(415) 555-0134 x123,US\ny@example.com,030 1234567 ext. 45,DE\n",
    )
    run_csv(db_url, path)
    people = by_email(db_url)
    assert people["x@example.com"]["phone_number"] == "+14155550134"
    assert people["x@example.com"]["extra_info"] == {"phoneExtension": "123"}
    assert people["y@example.com"]["phone_number"] == "+49301234567"
    assert people["y@example.com"]["extra_info"] == {"phoneExtension": "45"}


def test_a_cell_with_several_numbers_keeps_the_first_and_the_rest_in_extra_info(
    db_url: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        'email,phoneNumber,country\nm@example.com,"+49 30 1234567 / 0171 1234567, 0171 7654321",DE\n',
    )
    summary = run_csv(db_url, path)
    person = by_email(db_url)["m@example.com"]
    assert person["phone_number"] == "+49301234567"
    assert person["extra_info"] == {"otherPhoneNumbers": ["+491711234567", "+491717654321"]}
    assert issues(db_url, summary.run_id) == [("multiple_phones", "phoneNumber", 2)]


# --- 9. dates: the order is decided per column ---


def test_a_month_first_column_is_read_month_first_throughout(db_url: str, shared_fixtures: Path) -> None:
    summary = run_csv(db_url, shared_fixtures / "hunt" / "dates_us_month_first_native.csv")
    assert issues(db_url, summary.run_id) == []
    assert {e: str(r["birthday"]) for e, r in by_email(db_url).items()} == {
        "us1@example.com": "1985-03-14",
        "us2@example.com": "1985-03-04",
        "us3@example.com": "1990-12-25",
        "us4@example.com": "1992-07-01",
    }


def test_evidence_late_in_the_file_decides_for_earlier_batches(db_url: str, tmp_path: Path) -> None:
    rows = "".join(f"d{i}@example.com,3/4/19{50 + i}\n" for i in range(6))
    path = write(tmp_path, "email,birthday\n" + rows + "last@example.com,25/12/1990\n")
    summary = run_csv(db_url, path, batch_size=2)
    assert issues(db_url, summary.run_id) == []
    people = by_email(db_url)
    assert str(people["d0@example.com"]["birthday"]) == "1950-04-03"
    assert str(people["last@example.com"]["birthday"]) == "1990-12-25"


def test_a_column_without_evidence_drops_ambiguous_dates_with_a_warning(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path, "email,birthday\na@example.com,3/4/1985\nb@example.com,1990-01-02\nc@example.com,5/6/1990\n"
    )
    summary = run_csv(db_url, path)
    people = by_email(db_url)
    assert people["a@example.com"]["birthday"] is None
    assert str(people["b@example.com"]["birthday"]) == "1990-01-02"
    assert issues(db_url, summary.run_id) == [
        ("ambiguous_date", "birthday", 2),
        ("ambiguous_date", "birthday", 4),
    ]


def test_a_mapping_that_says_month_first_is_obeyed(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "mail,born\na@example.com,3/4/1985\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('date_order = "month-first"\n[fields]\nemail = "mail"\nbirthday = "born"\n')
    run_csv(db_url, path, mapping=mapping)
    assert str(by_email(db_url)["a@example.com"]["birthday"]) == "1985-03-04"


# --- 10. ZIP codes that lost their leading zeros ---


def test_us_zips_get_their_leading_zeros_back_and_others_stay(db_url: str, shared_fixtures: Path) -> None:
    summary = run_csv(db_url, shared_fixtures / "hunt" / "zip_leading_zero_lost_excel.csv")
    assert {e: r["zip_code"] for e, r in by_email(db_url).items()} == {
        "z1@example.com": "02108",
        "z2@example.com": "00501",
        "z3@example.com": "8001",
        "z4@example.com": "1010",
    }
    assert issues(db_url, summary.run_id) == [("zip_padded", "zipCode", 2), ("zip_padded", "zipCode", 3)]


def test_zip_plus_four_and_other_fixed_length_countries(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,zipCode,country\n"
        "a@example.com,2108-1234,US\nb@example.com,1067,DE\nc@example.com,SW1A 1AA,GB\nd@example.com,210,\n",
    )
    run_csv(db_url, path)
    assert {e: r["zip_code"] for e, r in by_email(db_url).items()} == {
        "a@example.com": "02108-1234",
        "b@example.com": "01067",
        "c@example.com": "SW1A 1AA",
        "d@example.com": "210",
    }


# --- 11. multi-line streets ---


def test_a_multi_line_street_keeps_its_line_break(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "sf.csv"
    path.write_bytes(
        b'email,street,city\r\na@example.com,"Hauptstr. 1\r\n  Hinterhaus ",  New   York \r\n'
        b'b@example.com,"Main St 2\n\nc/o Lee",Boston\r\n'
    )
    run_csv(db_url, path)
    people = by_email(db_url)
    assert people["a@example.com"]["street"] == "Hauptstr. 1\nHinterhaus"
    assert people["a@example.com"]["city"] == "New York"
    assert people["b@example.com"]["street"] == "Main St 2\nc/o Lee"


# --- 12. Salesforce 15- and 18-character ids ---

SF_HEADER = "Id,FirstName,LastName,Email,SystemModstamp\n"


def test_a_15_character_salesforce_id_updates_the_record_of_its_18_character_form(
    db_url: str, tmp_path: Path
) -> None:
    api = write(
        tmp_path, SF_HEADER + "0015000000VALDtAAP,Val,Old,val@example.com,2024-01-01T00:00:00Z\n", "a.csv"
    )
    report = write(
        tmp_path, SF_HEADER + "0015000000VALDt,Val,New,val@example.com,2024-02-01T00:00:00Z\n", "r.csv"
    )
    run_csv(db_url, api, preset_name="salesforce-dataloader")
    second = run_csv(db_url, report, preset_name="salesforce-dataloader")
    assert (second.counts["created"], second.counts["updated"]) == (0, 1)
    assert [r["source_id"] for r in table_rows(db_url, "customer_source")] == ["0015000000VALDtAAP"]
    (customer,) = table_rows(db_url, "customer")
    assert (customer["lastname"], customer["entity_source_id"]) == ("New", "0015000000VALDtAAP")


def test_a_15_character_id_first_is_stored_in_its_18_character_form(db_url: str, tmp_path: Path) -> None:
    report = write(tmp_path, SF_HEADER + "003D000000QVIaK,Ann,Lee,ann@example.com,\n")
    run_csv(db_url, report, preset_name="salesforce-dataloader")
    (source,) = table_rows(db_url, "customer_source")
    assert source["source_id"] == "003D000000QVIaKIAX"


def test_dates_with_a_time_or_the_year_first_read_too(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,birthday\na@example.com,3/14/1985 0:00\nb@example.com,1985-3-4\nc@example.com,7/1/1992 12:00 AM\n",
    )
    summary = run_csv(db_url, path)
    assert issues(db_url, summary.run_id) == []
    assert {e: str(r["birthday"]) for e, r in by_email(db_url).items()} == {
        "a@example.com": "1985-03-14",
        "b@example.com": "1985-03-04",
        "c@example.com": "1992-07-01",
    }
