"""Auto-detection: every preset scored against the header; a poor fit is refused, never guessed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from connectors.base import FatalSourceError
from sync.mapping import FIT, PRESETS, bind_layout, detect_layout, preset, score_presets

NAMED = [name for name in PRESETS if name != "native"]
SIGNATURES = [(name, variant, list(columns)) for name in NAMED for variant, columns in preset(name).detect]


@pytest.mark.parametrize(
    ("name", "variant", "header"), SIGNATURES, ids=[f"{n}-{v}" for n, v, _ in SIGNATURES]
)
def test_each_presets_own_header_is_detected_and_fits_no_other_preset(
    name: str, variant: str, header: list[str]
) -> None:
    assert detect_layout(header, "customers").name == name
    fits = {f.name: f.share for f in score_presets(header)}
    assert fits.pop(name) == 1.0
    # The bar sits between a preset's own header and the best any other preset reaches.
    assert max(fits.values()) < FIT - 0.15, fits


def test_columns_every_export_has_do_not_make_a_preset() -> None:
    # HubSpot's trimmed export is `Record ID, First Name, Last Name, Email`: without the id that
    # only HubSpot writes, three common names are a generic file, not a HubSpot one.
    header = ["First Name", "Last Name", "Email", "Phone"]
    assert detect_layout(header, "customers").name == "generic"
    assert detect_layout([*header[:3], "Record ID"], "customers").name == "hubspot"


GOOGLE_WITHOUT_IDENTIFIERS = [
    "First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name",
    "Phonetic Last Name", "Name Prefix", "Name Suffix", "Nickname", "File As", "Organization Name",
    "Organization Title", "Organization Department", "Birthday", "Notes", "Photo", "Labels",
]  # fmt: skip


def test_a_preset_shaped_header_without_its_identifying_columns_is_refused_by_name() -> None:
    # Before: `First Name`/`Last Name` made it a header layout and every row `no_identifier`.
    with pytest.raises(FatalSourceError) as refused:
        detect_layout(GOOGLE_WITHOUT_IDENTIFIERS, "customers")
    message = str(refused.value)
    assert "\n" not in message
    assert "looks like a google-contacts export (17 of its 21 columns)" in message
    assert "'E-mail 1 - Value'" in message and "--preset NAME or --mapping FILE" in message


def test_a_header_no_preset_fits_and_that_names_no_identifier_is_refused_naming_the_closest() -> None:
    with pytest.raises(FatalSourceError) as refused:
        detect_layout(["First Name", "Last Name", "Notes", "Nickname"], "customers")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        "cannot tell the layout of this file from its header: no preset fits (closest: "
    )
    assert "google-contacts (4 of its 21 columns)" in message
    assert "no column names an id, e-mail or phone" in message


def test_generic_and_native_headers_that_identify_rows_are_still_read_from_their_names() -> None:
    assert (
        detect_layout(["Customer ID", "First Name", "Surname", "E-mail", "Mobile"], "customers").name
        == "generic"
    )
    assert detect_layout(["email", "firstname"], "customers").name == "native"
    # `firstname`/`lastname` are Salesforce's `FirstName`/`LastName` case-blind: without its `Id`
    # a file of documented names is native, not a Data Loader extract.
    assert detect_layout(["email", "firstname", "lastname", "city"], "customers").name == "native"
    assert detect_layout(["orderId", "consumerEmail", "total"], "orders").name == "native"


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


@pytest.mark.parametrize(
    ("fixture", "thing"),
    [
        ("dataloader_account_extract_sample_first20.csv", "Accounts"),
        ("dataloader_opportunity_extract_success_status.csv", "Opportunities"),
    ],
)
def test_data_loader_extracts_of_other_objects_are_refused_as_not_contacts(
    shared_fixtures: Path, fixture: str, thing: str
) -> None:
    header = _header(shared_fixtures / "csv" / fixture)
    expected = f"this is a Salesforce extract of {thing}, not Contacts"
    with pytest.raises(FatalSourceError, match=expected):
        detect_layout(header, "customers")
    # Named explicitly, the Contact preset would key Accounts on their Id and Phone: refused too.
    with pytest.raises(FatalSourceError, match=expected):
        bind_layout(preset("salesforce-dataloader"), header, {})


def test_a_contact_extract_with_audit_columns_is_not_mistaken_for_another_object() -> None:
    header = ["Id", "FirstName", "LastName", "Email", "AccountId", "OwnerId", "CreatedById", "SystemModstamp"]
    assert detect_layout(header, "customers").name == "salesforce-dataloader"
