"""Presets, the native layout, mapping files and layout detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import FatalSourceError, SourceRecord
from sync.mapping import Draft, Issue, bind_layout, detect_layout, load_mapping, map_record, preset

SHOPIFY_CURRENT = [
    "Customer ID",
    "First Name",
    "Last Name",
    "Email",
    "Accepts Email Marketing",
    "Default Address Company",
    "Default Address Address1",
    "Default Address Address2",
    "Default Address City",
    "Default Address Province Code",
    "Default Address Country Code",
    "Default Address Zip",
    "Default Address Phone",
    "Phone",
    "Accepts SMS Marketing",
    "Total Spent",
    "Total Orders",
    "Note",
    "Tax Exempt",
    "Tags",
]
SHOPIFY_LEGACY = [
    "First Name",
    "Last Name",
    "Email",
    "Accepts Email Marketing",
    "Company",
    "Address1",
    "Address2",
    "City",
    "Province",
    "Province Code",
    "Country",
    "Country Code",
    "Zip",
    "Phone",
    "Accepts SMS Marketing",
    "Total Spent",
    "Total Orders",
    "Tags",
    "Note",
    "Tax Exempt",
]
MAILCHIMP = [
    "Email Address",
    "First Name",
    "Last Name",
    "Address",
    "Phone Number",
    "Birthday",
    "MEMBER_RATING",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "LATITUDE",
    "LONGITUDE",
    "GMTOFF",
    "DSTOFF",
    "TIMEZONE",
    "CC",
    "REGION",
    "LAST_CHANGED",
    "LEID",
    "EUID",
    "NOTES",
    "TAGS",
]
HUBSPOT = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Contact owner",
    "Create Date",
    "Last Modified Date",
]
DATALOADER_NEW = [
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "MailingStreet",
    "MailingCity",
    "MailingPostalCode",
    "MailingCountry",
    "Birthdate",
    "SystemModstamp",
    "IsDeleted",
]


def mapped(layout_name: str, fields: dict[str, str], kind: str = "customers") -> Draft:
    result = map_record(SourceRecord(None, fields, position=2), preset(layout_name, kind).spec)
    assert isinstance(result, Draft), result
    return result


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (SHOPIFY_CURRENT, "shopify"),
        (SHOPIFY_LEGACY, "shopify"),
        (MAILCHIMP, "mailchimp"),
        (HUBSPOT, "hubspot"),
        (DATALOADER_NEW, "salesforce-dataloader"),
        ([h.upper() for h in DATALOADER_NEW], "salesforce-dataloader"),
        (["entitySourceId", "email", "firstname", "phoneNumber"], "native"),
    ],
    ids=["shopify", "shopify-legacy", "mailchimp", "hubspot", "dataloader", "dataloader-caps", "native"],
)
def test_layout_is_detected_from_the_header(header: list[str], expected: str) -> None:
    assert detect_layout(header, "customers").name == expected


def test_unknown_header_asks_for_a_preset_or_mapping() -> None:
    with pytest.raises(FatalSourceError, match="--preset"):
        detect_layout(["foo", "bar"], "customers")


def test_shopify_current_row_maps_every_field() -> None:
    row = dict(zip(SHOPIFY_CURRENT, [
        "207119551", "Ada", "Lovelace", "Ada@Example.COM", "yes", "ACME", "12 Main St", "Flat 2",
        "London", "", "GB", "N1 9GU", "", "020 7946 0958", "no", "120.50", "3", "note", "no", "vip",
    ], strict=True))  # fmt: skip
    draft = mapped("shopify", row)
    assert draft.source_id == "207119551"
    assert draft.fields == {
        "email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace",
        "phone_number": "+442079460958", "street": "12 Main St", "city": "London",
        "zip_code": "N1 9GU", "country": "GB",
    }  # fmt: skip
    # Nothing is dropped: the unmapped columns travel in extraInfo under their own names.
    assert draft.extra_info["Total Spent"] == "120.50"
    assert draft.extra_info["Default Address Address2"] == "Flat 2"


def test_shopify_legacy_row_without_id_derives_a_stable_one() -> None:
    row = dict.fromkeys(SHOPIFY_LEGACY, "")
    row.update(
        {"First Name": "Bo", "Email": " BO@example.com ", "Country Code": "US", "Phone": "(212) 555-0101"}
    )
    draft = mapped("shopify", row)
    assert draft.source_id == "email:bo@example.com"
    assert draft.fields["phone_number"] == "+12125550101"
    row_without_email = {**row, "Email": ""}
    assert mapped("shopify", row_without_email).source_id == "phone:+12125550101"


def test_mailchimp_keeps_its_yearless_birthday_in_extra_info() -> None:
    row = dict.fromkeys(MAILCHIMP, "")
    row.update({"Email Address": "m@example.com", "Birthday": "05/17", "CC": "DE", "LEID": "42",
                "LAST_CHANGED": "2024-03-01 09:00:00", "Phone Number": "030 1234567"})  # fmt: skip
    draft = mapped("mailchimp", row)
    assert draft.source_id == "42"
    assert draft.fields["phone_number"] == "+49301234567"  # national number read in the row's country
    assert draft.extra_info["Birthday"] == "05/17"
    assert draft.modstamp is not None and draft.modstamp.isoformat() == "2024-03-01T09:00:00+00:00"


def test_dataloader_caps_headers_with_deleted_flag() -> None:
    row = {h.upper(): "" for h in DATALOADER_NEW}
    row.update({"ID": "003x000001", "FIRSTNAME": "Sam", "EMAIL": "sam@example.com", "BIRTHDATE": "1990-02-28",
                "SYSTEMMODSTAMP": "2024-01-02T03:04:05.000Z", "ISDELETED": "true"})  # fmt: skip
    draft = mapped("salesforce-dataloader", row)
    assert (draft.source_id, draft.deleted, draft.fields["birthday"]) == ("003x000001", True, "1990-02-28")


def test_a_repeated_id_stamp_or_deleted_column_is_read_when_its_first_copy_is_blank() -> None:
    # As the CSV reader names a header's repeats: `name_2`, and what each repeats.
    repeated = ["entitySourceId", "updatedAt", "deleted"]
    header = ["entitySourceId", "email", "updatedAt", "deleted", *(f"{name}_2" for name in repeated)]
    duplicates = {f"{name}_2": name for name in repeated}
    layout, _ = bind_layout(preset("native"), header, duplicates)
    cells = ["", "ann@example.com", "", "", "A-2", "2024-03-01T09:00:00Z", "true"]
    draft = map_record(SourceRecord(None, dict(zip(header, cells, strict=True)), position=2), layout.spec)
    assert isinstance(draft, Draft), draft
    assert (draft.source_id, draft.deleted) == ("A-2", True)
    assert draft.modstamp is not None and draft.modstamp.isoformat() == "2024-03-01T09:00:00+00:00"
    # Each copy read is used, not also kept: extraInfo keeps only a repeat its field passed over.
    assert draft.extra_info == {}


def test_native_orders_layout_reads_documented_names() -> None:
    draft = mapped(
        "native",
        {
            "orderId": "o-1",
            "consumerEmail": "A@x.com",
            "total": "1.234,50",
            "points": "12",
            "completedAt": "2024-05-01T10:00:00Z",
        },
        kind="orders",
    )
    assert draft.source_id == "o-1"
    assert draft.fields["total"] == "1234.50"
    assert draft.fields["consumer_email"] == "a@x.com"


def test_bad_values_are_warnings_and_bad_email_is_a_reject() -> None:
    spec = preset("native").spec
    record = SourceRecord(None, {"entitySourceId": "1", "email": "a@b.com", "phoneNumber": "12",
                                 "birthday": "31.02.1990", "country": "Atlantis", "gender": "?"}, position=9)  # fmt: skip
    draft = map_record(record, spec)
    assert isinstance(draft, Draft)
    assert sorted(w.reason for w in draft.warnings) == [
        "invalid_country",
        "invalid_date",
        "invalid_gender",
        "invalid_phone",
    ]
    assert all(w.position == 9 and w.source_id == "1" for w in draft.warnings)
    assert set(draft.fields) == {"email"}

    reject = map_record(SourceRecord(None, {"entitySourceId": "2", "email": "nope@"}, position=10), spec)
    assert isinstance(reject, Issue)
    assert (reject.reason, reject.position) == ("invalid_email", 10)


def test_excel_serial_and_configured_day_order_dates(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        'kind = "customers"\nid = "Nr"\ndate_order = "month-first"\n[fields]\nbirthday = "Born"\nemail = "Mail"\n'
    )
    spec = load_mapping(path).spec
    d1 = map_record(SourceRecord(None, {"Nr": "1", "Born": "03/04/1990", "Mail": "a@b.co"}), spec)
    d2 = map_record(SourceRecord(None, {"Nr": "2", "Born": "32874", "Mail": "b@b.co"}), spec)
    assert isinstance(d1, Draft) and isinstance(d2, Draft)
    assert d1.fields["birthday"] == "1990-03-04"
    assert d2.fields["birthday"] == "1990-01-01"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind = 'customers'\n[fields]\nshoeSize = 'x'\n", "unknown customers field"),
        ("kind = 'widgets'\n", "unknown kind"),
        ("this is = = not toml", "not valid TOML"),
        ("date_order = 'sideways'\n", "date_order"),
    ],
)
def test_bad_mapping_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FatalSourceError, match=message):
        load_mapping(path)


def test_unknown_preset_is_fatal() -> None:
    with pytest.raises(FatalSourceError, match="unknown preset"):
        preset("excel97")
