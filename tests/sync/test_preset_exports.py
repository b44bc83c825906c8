"""Real export headers with invented rows, imported with their preset named and detected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sync.pipeline import RunSummary
from tests.sync.helpers import run_csv, table_rows

EXPORTS = Path(__file__).parent / "exports"


@pytest.fixture(params=["named", "detected"])
def how(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _json(value: Any) -> Any:
    # SQLite hands JSON columns back as text.
    return json.loads(value) if isinstance(value, str) else value


def imported(url: str, name: str, preset: str, how: str) -> tuple[RunSummary, dict[str, dict[str, Any]]]:
    """Import `exports/name` with the preset named or detected; customers by source id."""
    summary = run_csv(url, EXPORTS / name, preset_name=preset if how == "named" else None)
    assert summary.layout == preset
    assert summary.status == "succeeded"
    customers = {r["pk"]: r for r in table_rows(url, "customer")}
    people: dict[str, dict[str, Any]] = {}
    for source in table_rows(url, "customer_source"):
        customer = customers[source["customer_pk"]]
        customer["extra_info"] = _json(customer["extra_info"])
        customer["birthday"] = str(customer["birthday"])[:10] if customer["birthday"] else None
        people[source["source_id"]] = {**customer, "source": source["source"]}
    return summary, people


def issues(url: str, run_id: str) -> list[tuple[str, str | None, int | None]]:
    return sorted(
        (r["reason"], r["field"], r["line"]) for r in table_rows(url, "sync_reject") if r["run_id"] == run_id
    )


def fields(person: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(person[n] for n in names)


NAME = ("email", "firstname", "lastname")
PLACE = ("street", "city", "zip_code", "country")


def test_google_contacts_current_export(db_url: str, how: str) -> None:
    summary, people = imported(db_url, "google_contacts_current.csv", "google-contacts", how)
    assert (summary.counts["created"], summary.counts["rejected"]) == (3, 0)
    ada = people["email:ada@example.com"]
    assert ada["source"] == "google-contacts" and ada["entity_source"] == "CSV"
    assert fields(ada, *NAME, "secondary_email", "phone_number", "birthday") == (
        "ada@example.com", "Ada", "Lovelace", "a.lovelace@work.example.com", "+447911123456", "1985-12-10",
    )  # fmt: skip
    assert fields(ada, *PLACE) == ("12 Main St", "London", "N1 9GU", "GB")
    # The values after the first in a ` ::: ` cell are kept, read like the first one.
    assert ada["extra_info"]["otherEmails"] == ["ada.work@example.com"]
    assert ada["extra_info"]["otherPhoneNumbers"] == ["+442079460958"]
    assert ada["extra_info"]["Middle Name"] == "Augusta"
    assert ada["extra_info"]["Labels"] == "* myContacts ::: * starred"
    # Without an e-mail the phone keys the row, read in the row's country.
    bo = people["phone:+12125550101"]
    assert fields(bo, "email", "firstname", "city", "country", "birthday") == (
        None,
        "Bo",
        "New York",
        "US",
        None,
    )
    assert people["email:cy@example.org"]["lastname"] == "Young"
    # A birthday without its year (`--03-01`) is not a date: dropped with a warning, never guessed.
    # (Bo's row starts on line 5: Ada's formatted address spans three.)
    assert issues(db_url, summary.run_id) == [("invalid_date", "birthday", 5)]


def test_google_contacts_older_export(db_url: str, how: str) -> None:
    summary, people = imported(db_url, "google_contacts_older.csv", "google-contacts", how)
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 0)
    grace = people["email:grace@example.com"]
    assert fields(grace, *NAME, "phone_number", "birthday", "country") == (
        "grace@example.com", "Grace", "Hopper", "+12125550199", "1906-12-09", "US",
    )  # fmt: skip
    assert grace["extra_info"]["otherEmails"] == ["g.hopper@example.net"]
    assert grace["extra_info"]["Name"] == "Grace Brewster Hopper"
    assert fields(people["email:alan@example.co.uk"], "firstname", "lastname") == ("Alan", "Turing")


def test_outlook_com_export(db_url: str, how: str) -> None:
    summary, people = imported(db_url, "outlook_com.csv", "outlook", how)
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 0)
    renee = people["email:renee.dupre@example.fr"]
    assert fields(renee, *NAME, "secondary_email", "phone_number", "birthday") == (
        "renee.dupre@example.fr", "Renée", "Dupré", "r.dupre@example.com", "+33612345678", "1990-05-17",
    )  # fmt: skip
    assert fields(renee, *PLACE) == ("3 rue de la Paix", "Paris", "75002", "FR")
    # No e-mail and no mobile: the business phone keys the row.
    sam = people["phone:+442079460000"]
    assert fields(sam, "firstname", "lastname", "email") == ("Sam", "Okafor", None)
    assert sam["extra_info"]["Business City"] == "Brighton"
    assert issues(db_url, summary.run_id) == []


def test_desktop_outlook_export_reads_its_0_0_00_birthday_as_none(db_url: str, how: str) -> None:
    summary, people = imported(db_url, "outlook_desktop.csv", "outlook", how)
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 0)
    jurgen = people["email:juergen.mueller@example.de"]
    assert fields(jurgen, *NAME, "phone_number", "birthday") == (
        "juergen.mueller@example.de", "Jürgen", "Müller", "+491711234567", "1985-03-14",
    )  # fmt: skip
    assert fields(jurgen, *PLACE) == ("Hauptstraße 5", "Berlin", "10115", "DE")
    eva = people["email:eva.s@example.at"]
    assert fields(eva, "birthday", "city", "country") == (None, "Wien", "AT")
    assert eva["extra_info"]["Anniversary"] == "0/0/00"  # an unread column keeps what it said
    assert issues(db_url, summary.run_id) == []


def test_woocommerce_customers_export(db_url: str, how: str) -> None:
    summary, people = imported(db_url, "woocommerce_customers.csv", "woocommerce", how)
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 0)
    ada = people["email:ada@example.com"]
    assert fields(ada, "email", "city", "zip_code", "country", "firstname") == (
        "ada@example.com", "London", "N1 9GU", "GB", "",
    )  # fmt: skip
    assert ada["source"] == "woocommerce"
    # `Name` joins first and last name: kept whole rather than split by a guess.
    assert (ada["extra_info"]["Name"], ada["extra_info"]["Total spend"]) == ("Ada Lovelace", "120.50")
    assert fields(people["email:bo@example.com"], "zip_code", "country") == ("02108", "US")
    assert issues(db_url, summary.run_id) == [("zip_padded", "zipCode", 3)]


def test_klaviyo_profiles_export(db_url: str, how: str) -> None:
    summary, people = imported(db_url, "klaviyo_profiles.csv", "klaviyo", how)
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 0)
    zoe = people["01HZX3K4V7Q8R9S0T1U2V3W4X5"]
    assert fields(zoe, *NAME, "phone_number") == ("zoe@example.com", "Zoë", "Ørsted", "+4520123456")
    assert fields(zoe, *PLACE) == ("Nørregade 1", "København", "1165", "DK")
    assert zoe["extra_info"]["Historic Number Of Orders"] == "4"
    lee = people["Q7kP2x"]  # Klaviyo's older six-character ids key rows as they are
    assert fields(lee, "email", "zip_code", "country") == ("lee@example.com", "02108", "US")
    assert issues(db_url, summary.run_id) == []


def test_hubspot_all_properties_export(db_url: str, how: str) -> None:
    # 294 columns, `Billing Contact` twice: the first copy under its name, the second as
    # `Billing Contact_2`, both kept (no field reads them), and one `duplicate_header` warning.
    summary, people = imported(db_url, "hubspot_all_properties.csv", "hubspot", how)
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 0)
    maria = people["51"]
    assert fields(maria, *NAME, "phone_number", "birthday", "zip_code", "country") == (
        "maria.j@example.com", "Maria", "Johnson (Sample Contact)", "+16175550100", "1987-04-09", "02139", "US",
    )  # fmt: skip
    assert maria["extra_info"]["Billing Contact"] == "Accounts Payable"
    assert maria["extra_info"]["Billing Contact_2"] == "ap@acme.example"
    lee = people["101"]
    assert lee["birthday"] is None
    assert "Billing Contact" not in lee["extra_info"]
    assert lee["extra_info"]["Billing Contact_2"] == "Lee Park"
    assert issues(db_url, summary.run_id) == [("duplicate_header", None, 1), ("zip_padded", "zipCode", 2)]
