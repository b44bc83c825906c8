"""`consumers(phoneNumber_Icontains:)` finds a phone however it is typed (stored in E.164)."""

from __future__ import annotations

import csv

import pytest

from sync.mapping import normalize_phone
from tests.api.builders import make_customer
from tests.api.conftest import Api
from tests.shared import shared_file

QUERY = """query ($p: String) {
  consumers(phoneNumber_Icontains: $p) { edges { node { email } } }
}"""


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("+49 30 1234567", ["ann_lee@example.com"]),
        ("+49301234567", ["ann_lee@example.com"]),
        ("0049 30 1234567", ["ann_lee@example.com"]),
        # A national number in the default region (US): not a whole number there, so its
        # digits, less the trunk 0.
        ("030 1234567", ["ann_lee@example.com"]),
        ("(212) 555-0002", ["carl@example.com"]),
        ("+49 30", ["ann_lee@example.com", "annalee@example.com"]),
        ("+44", ["bob%x@example.com"]),
        ("7946 0000", ["bob%x@example.com"]),
        ("1234567", ["ann_lee@example.com"]),
        # `+1` starts only Carl's number, though a 1 sits inside the others.
        ("+1", ["carl@example.com"]),
        ("no digits", []),
        ("%", []),
    ],
)
def test_phone_filter_matches_the_number_however_it_is_typed(
    api: Api, term: str, expected: list[str]
) -> None:
    with shared_file("fixtures", "hunt", "graphql_phone_search_seed.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            make_customer(
                api.engine,
                email=row["email"],
                phone_number=normalize_phone(row["phoneNumber"], row["country"]),
            )
    found = api.data(QUERY, {"p": term}, token=api.staff_token())["consumers"]["edges"]
    assert sorted(e["node"]["email"] for e in found) == expected
