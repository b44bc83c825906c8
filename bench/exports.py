"""Synthetic customer exports in the real layouts, deterministic by seed, with optional garbage."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

SHOPIFY_HEADER = [
    "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
    "Default Address Company", "Default Address Address1", "Default Address Address2",
    "Default Address City", "Default Address Province Code", "Default Address Country Code",
    "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
    "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
]  # fmt: skip
MAILCHIMP_HEADER = [
    "Email Address", "First Name", "Last Name", "Address", "Phone Number", "Birthday",
    "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE",
    "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION", "LAST_CHANGED", "LEID", "EUID",
    "NOTES", "TAGS",
]  # fmt: skip

FIRST = ["Ada", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Günter", "Hana", "Ivan", "José", "Kai", "Lena"]
LAST = ["Lovelace", "Smith", "Müller", "O'Brien", "García", "Nguyen", "Kowalski", "Rossi", "Tanaka"]
CITIES = [("London", "GB"), ("Berlin", "DE"), ("New York", "US")]
# The 11-column customer file of the speed benchmark (issue 9), read with bench/customers.toml.
CUSTOMER_HEADER = [
    "id", "first_name", "last_name", "email", "phone", "birthday", "street", "city", "zip",
    "country", "gender",
]  # fmt: skip
GENDERS = ["female", "male", "", "other"]

# E-mail addresses of the benchmark file (and the API bench's store): shaped like a real customer
# base's, not `personN@example.com`, whose shared "person" put 4 of a search term's trigrams in
# every row (bench/README.md). Local parts are a given name and a family name in one of four
# spellings, numbered after the first 40,000 people (the number makes every address distinct);
# the domains stay the names RFC 2606 reserves, so no generated address is anyone's mailbox.
EMAIL_GIVEN = [
    "james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "david", "elizabeth",
    "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen",
    "daniel", "nancy", "matthew", "lisa", "anthony", "betty", "mark", "sandra", "paul", "ashley",
    "steven", "emily", "andrew", "donna", "kevin", "michelle", "brian", "carol", "george", "amanda",
    "timothy", "melissa", "jose", "deborah", "ryan", "stephanie", "jacob", "rebecca", "gary", "laura",
    "lukas", "hannah", "leon", "mia", "finn", "lena", "jonas", "lea", "felix", "anna",
    "noah", "emma", "elias", "sofia", "luca", "marie", "maximilian", "lina", "paulo", "ana",
    "mohammed", "fatima", "ahmed", "aisha", "omar", "layla", "yusuf", "zeynep", "mehmet", "elif",
    "hiroshi", "yuki", "kenji", "sakura", "wei", "li", "jun", "mei", "raj", "priya",
    "arjun", "ananya", "ivan", "olga", "dmitri", "natasha", "pierre", "camille", "giulia", "marco",
]  # fmt: skip
EMAIL_FAMILY = [
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
    "hernandez", "lopez", "gonzalez", "wilson", "anderson", "taylor", "moore", "jackson", "martin", "lee",
    "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson", "walker",
    "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores", "green",
    "adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell", "carter", "roberts", "gomez",
    "mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "schulz", "hoffmann",
    "rossi", "russo", "ferrari", "esposito", "bianchi", "romano", "colombo", "ricci", "marino", "greco",
    "dubois", "durand", "leroy", "moreau", "simon", "laurent", "lefebvre", "michel", "fontaine", "chevalier",
    "kowalski", "nowak", "wisniewski", "novak", "horvat", "ivanov", "petrov", "sato", "suzuki", "takahashi",
    "tanaka", "watanabe", "kim", "park", "choi", "chen", "wang", "zhang", "singh", "patel",
]  # fmt: skip
EMAIL_DOMAINS = [
    "example.com", "example.com", "example.com", "example.com", "example.com",
    "example.net", "example.net", "example.net", "example.org", "example.org",
]  # fmt: skip
# Each given name with each family name in each spelling before any address gets a number.
EMAIL_UNNUMBERED = len(EMAIL_GIVEN) * len(EMAIL_FAMILY) * 4


def email(i: int, *, uniform: bool = False) -> str:
    """The i-th person's address: `mary.lopez12@example.net`; `uniform` gives `person<i>@example.com`.

    bench/api_store.py builds the same addresses in SQL (`email_sql`); a test holds them equal.
    """
    if uniform:
        return f"person{i}@example.com"
    given = EMAIL_GIVEN[i % len(EMAIL_GIVEN)]
    family = EMAIL_FAMILY[i // len(EMAIL_GIVEN) % len(EMAIL_FAMILY)]
    spelling = i // (len(EMAIL_GIVEN) * len(EMAIL_FAMILY)) % 4
    local = (f"{given}.{family}", f"{given}{family}", f"{given}_{family}", f"{family}.{given}")[spelling]
    number = i // EMAIL_UNNUMBERED
    return f"{local}{number or ''}@{EMAIL_DOMAINS[i // 7 % len(EMAIL_DOMAINS)]}"


def _phone(i: int, country: str) -> str:
    # Numbers from ranges that are valid but reserved for fiction/drama where one exists.
    if country == "GB":
        return f"+44 20 7946 {i % 1000:04d}"
    if country == "DE":
        return f"030 {1000000 + i % 8999999}"
    return f"(212) 555-{i % 10000:04d}"


def person(i: int, rng: random.Random) -> dict[str, str]:
    """The i-th synthetic person; the same i gives the same person in every layout."""
    city, country = CITIES[i % len(CITIES)]
    phone = _phone(i, country)
    return {
        "id": str(1_000_000 + i),
        "first": FIRST[i % len(FIRST)],
        "last": LAST[(i // len(FIRST)) % len(LAST)],
        "email": f"person{i}@example.com",
        "city": city,
        "country": country,
        "phone": phone,
        "zip": f"{10000 + i % 89999}",
        "street": f"{1 + i % 200} {rng.choice(['Main St', 'High Street', 'Hauptstraße'])}",
    }


def _garbage(row: list[str], rng: random.Random, email_col: int) -> list[str]:
    kind = rng.randrange(3)
    if kind == 0:
        row[email_col] = "not-an-email"
        return row
    if kind == 1:
        return row[: len(row) // 2]  # too few columns
    return [*row, "extra", "cells"]  # too many columns


def shopify_rows(n: int, start: int = 0, garbage: float = 0.0, seed: int = 7) -> Iterator[list[str]]:
    """Rows of a Shopify customers export (current layout); row i is the same for any `start`."""
    for i in range(start, start + n):
        rng = random.Random(seed * 1_000_003 + i)
        p = person(i, rng)
        row = [
            p["id"], p["first"], p["last"], p["email"], rng.choice(["yes", "no"]), "", p["street"], "",
            p["city"], "", p["country"], p["zip"], "", p["phone"], "no", f"{rng.randrange(0, 50000) / 100:.2f}",
            str(rng.randrange(0, 40)), "", "no", rng.choice(["", "vip", "wholesale"]),
        ]  # fmt: skip
        yield _garbage(row, rng, 3) if garbage and rng.random() < garbage else row


def _unique_phone(i: int, country: str) -> str:
    # Distinct for every row up to millions, so no cache of repeated numbers flatters the import.
    if country == "GB":
        return f"020 7{i // 10000 % 1000:03d} {i % 10000:04d}"
    if country == "DE":
        return f"030 {2000000 + i % 7999999}"
    return f"(212) {200 + i // 10000 % 800}-{i % 10000:04d}"


def customer_rows(
    n: int, changed_every: int = 0, seed: int = 13, *, uniform_emails: bool = False
) -> Iterator[list[str]]:
    """Rows of the 11-column benchmark file; with `changed_every` k, every k-th row has moved house.

    Cheap to generate (no per-row Random), so a million rows take seconds, and deterministic.
    `uniform_emails`: the addresses of earlier runs, `person<i>@example.com` (see `email`).
    """
    for i in range(n):
        city, country = CITIES[i % len(CITIES)]
        moved = changed_every and i % changed_every == 0
        street = f"{1 + (i * 7 + seed) % 200} {'Hauptstraße' if i % 3 == 0 else 'High Street'}"
        yield [
            str(1_000_000 + i), FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)],
            email(i, uniform=uniform_emails), _unique_phone(i, country),
            f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            f"{street} (moved)" if moved else street, city, f"{10000 + i % 89999}", country,
            GENDERS[i % len(GENDERS)],
        ]  # fmt: skip


def mailchimp_rows(n: int, start: int = 0, seed: int = 11) -> Iterator[list[str]]:
    """Rows of a Mailchimp audience export; e-mails shared with `shopify_rows` for the same i."""
    for i in range(start, start + n):
        rng = random.Random(seed * 1_000_003 + i)
        p = person(i, rng)
        yield [
            p["email"], p["first"], p["last"] + ("-MC" if i % 3 == 0 else ""),
            f"{p['street']}  {p['city']}  {p['zip']}  {p['country']}", p["phone"], "05/17",
            "2", "2023-01-01 10:00:00", "", "2023-01-01 10:01:00", "", "", "", "", "", "",
            p["country"], "", "2024-03-01 09:00:00", f"LE{i}", f"EU{i}", "", "",
        ]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: Iterator[list[str]]) -> Path:
    """Write an export the way the exporting tool does (comma-separated, minimal quoting)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
