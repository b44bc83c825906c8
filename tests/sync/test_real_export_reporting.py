"""What a person sees after importing a real export: the layout, honest counts, findable runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sync.cli import app
from tests.sync.helpers import decoded_rows as table_rows
from tests.sync.helpers import run_csv
from tests.sync.helpers import table_rows as _table_rows
from tests.sync.helpers import write_file as write

ROOT = Path(__file__).resolve().parents[2]


def invoke(db_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"DATABASE_URL": db_url, "LOG_LEVEL": "WARNING"})
    return result.exit_code, result.stdout, result.stderr


# --- 13. a wrongly detected layout is loud ---

GENERIC = "Customer ID;First Name;Last Name;Email;Phone;Zip;Notes\nC-1;Ann;Lee;ann@example.com;+4930123456;10115;vip\n"


def test_a_generic_header_is_recognised_by_its_synonyms(db_url: str, tmp_path: Path) -> None:
    summary = run_csv(db_url, write(tmp_path, GENERIC))
    assert summary.counts["created"] == 1
    (customer,) = table_rows(db_url, "customer")
    assert (customer["firstname"], customer["lastname"], customer["email"]) == (
        "Ann",
        "Lee",
        "ann@example.com",
    )
    assert (customer["phone_number"], customer["zip_code"]) == ("+4930123456", "10115")
    assert customer["entity_source_id"] == "C-1"
    assert customer["extra_info"] == {"Notes": "vip"}


@pytest.mark.parametrize(
    "header",
    [
        "Given name,Surname,E-mail,Mobile,Postal Code",
        "first_name,family name,Email Address,Telephone,Postcode",
    ],
)
def test_other_spellings_of_the_same_columns(db_url: str, tmp_path: Path, header: str) -> None:
    run_csv(db_url, write(tmp_path, header + "\nAnn,Lee,ann@example.com,+4930123456,10115\n"))
    (customer,) = table_rows(db_url, "customer")
    assert (customer["firstname"], customer["lastname"], customer["phone_number"], customer["zip_code"]) == (
        "Ann",
        "Lee",
        "+4930123456",
        "10115",
    )


def test_the_summary_names_the_layout_and_each_column_destination(db_url: str, tmp_path: Path) -> None:
    code, out, err = invoke(db_url, "import", "csv", str(write(tmp_path, GENERIC)), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["layout"] == "generic"
    assert summary["columns"] == {
        "Customer ID": "entitySourceId",
        "First Name": "firstname",
        "Last Name": "lastname",
        "Email": "email",
        "Phone": "phoneNumber",
        "Zip": "zipCode",
        "Notes": "extraInfo",
    }
    code, out, err = invoke(db_url, "import", "csv", str(write(tmp_path, GENERIC)))
    assert code == 0, err
    assert "generic" in out and "First Name" in out and "firstname" in out


def test_a_preset_whose_columns_the_header_lacks_fails_in_one_line(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "name,mail\nAnn,ann@example.com\n")
    code, _, err = invoke(db_url, "import", "csv", str(path), "--preset", "mailchimp")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Email Address" in lines[0] and "LEID" in lines[0], lines
    assert _table_rows(db_url, "sync_run", order_by="id") == []


def test_a_mapping_naming_absent_columns_fails_naming_them(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "mail,vorname\nann@example.com,Ann\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[fields]\nemail = "mail"\nfirstname = "Vorname"\nlastname = "Nachname"\ncity = "Ort"\n'
    )
    code, _, err = invoke(db_url, "import", "csv", str(path), "--mapping", str(mapping))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Nachname" in lines[0] and "Ort" in lines[0], lines
    assert "Vorname" not in lines[0]  # headers match case-blind


# --- 14. counts match the store ---

MAILCHIMP = "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,LEID\n"


@pytest.mark.parametrize("batch_size", [1, 100])
def test_one_email_under_two_source_ids_creates_one_customer(
    db_url: str, tmp_path: Path, batch_size: int
) -> None:
    path = write(
        tmp_path,
        MAILCHIMP + "ann@example.com,Ann,Lee,2,2024-01-01,111\nANN@example.com,Ann,Lee,3,2024-01-01,222\n",
    )
    summary = run_csv(db_url, path, batch_size=batch_size)
    assert len(table_rows(db_url, "customer")) == 1
    assert summary.counts["created"] == 1
    assert summary.counts["updated"] + summary.counts["unchanged"] == 1


def test_joining_a_customer_from_an_earlier_import_is_an_update(db_url: str, tmp_path: Path) -> None:
    run_csv(db_url, write(tmp_path, "email,firstname\nann@example.com,Ann\n", "first.csv"))
    path = write(tmp_path, MAILCHIMP + "ann@example.com,Ann,Lee,2,2024-01-01,111\n", "mc.csv")
    summary = run_csv(db_url, path)
    assert (summary.counts["created"], summary.counts["updated"]) == (0, 1)
    assert table_rows(db_url, "customer")[0]["lastname"] == "Lee"


def test_rejects_carry_their_source_id(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, MAILCHIMP + "not-an-email,Ann,Lee,2,2024-01-01,111\n")
    summary = run_csv(db_url, path)
    (reject,) = [r for r in table_rows(db_url, "sync_reject") if r["run_id"] == summary.run_id]
    assert (reject["reason"], reject["source_id"], reject["line"]) == ("invalid_email", "111", 2)


# --- 15. run ids by prefix; the README says how `customer-sync` is found ---


def test_runs_show_and_resume_accept_a_unique_prefix(db_url: str, tmp_path: Path) -> None:
    summary = run_csv(db_url, write(tmp_path, "email\nnot-an-email\n"))
    code, out, err = invoke(db_url, "runs", "show", summary.run_id[:8], "--json")
    assert code == 0, err
    assert json.loads(out)["id"] == summary.run_id
    code, _, err = invoke(db_url, "runs", "resume", summary.run_id[:8])
    assert code == 2
    assert f"run {summary.run_id} already succeeded" in err


def test_an_ambiguous_or_unknown_prefix_fails_in_one_line(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "email\na@example.com\n")
    ids = [run_csv(db_url, path).run_id for _ in range(20)]
    shared = next(a[:1] for a in ids if sum(b.startswith(a[:1]) for b in ids) > 1)
    code, _, err = invoke(db_url, "runs", "show", shared)
    assert code == 2 and "matches" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke(db_url, "runs", "show", "zzzz")
    assert code == 2 and "no run" in err


def test_the_readme_says_how_the_command_is_found() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in readme


def test_the_readme_tells_what_make_demo_prints(tmp_path: Path) -> None:
    # The demo's import, as the Makefile runs it, on a new user's empty store.
    demo_csv = str(ROOT / "examples/shopify-customers.csv")
    code, out, err = invoke(f"sqlite:///{tmp_path / 'demo.db'}", "import", "csv", demo_csv)
    assert code == 0, err
    counts = dict(re.findall(r"│ (\w+) +│ (\d+) +│", out))
    assert (counts["read"], counts["created"], counts["rejected"]) == ("250", "243", "7")
    # The reasons are one command away, not on the screen: the README must say so.
    assert "see why: customer-sync runs show" in out
    assert "invalid_email" not in out and "column_count" not in out
    readme = (ROOT / "README.md").read_text()
    said = " ".join(readme.split("`make demo` prints", 1)[1].split("\n\n")[0].split())
    assert "243 created, 7" in said and "`customer-sync runs show RUN_ID`" in said
