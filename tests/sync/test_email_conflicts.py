"""An e-mail that another customer already holds is a reported conflict, never a silent merge."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows

HEADER = ["entitySourceId", "email", "firstname", "lastname", "updatedAt"]


def native(path: Path, *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _payload(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def _import_ann_and_bob(db_url: str, tmp_path: Path) -> None:
    """Two customers, each with an address of their own."""
    first = native(
        tmp_path / "first.csv",
        ["c-ann", "ann@example.com", "Ann", "Lee", "2025-01-01T10:00:00+00:00"],
        ["c-bob", "bob@example.com", "Bob", "Ng", "2025-01-01T10:00:00+00:00"],
    )
    assert run_csv(db_url, first, preset_name="native").status == "succeeded"


def test_an_update_to_an_email_another_customer_holds_is_a_conflict_not_a_merge(
    db_url: str, tmp_path: Path
) -> None:
    _import_ann_and_bob(db_url, tmp_path)
    # Bob's record now claims Ann's address (another case of it, too) and a new first name.
    later = native(
        tmp_path / "later.csv",
        ["c-bob", "ANN@Example.com", "Bobby", "Ng", "2025-02-01T10:00:00+00:00"],
    )
    summary = run_csv(db_url, later, preset_name="native")

    assert summary.status == "succeeded"
    assert (summary.counts["updated"], summary.counts["conflicts"], summary.counts["warnings"]) == (1, 1, 1)
    assert_counts_add_up(summary)
    (warning,) = [r for r in table_rows(db_url, "sync_reject") if r["run_id"] == summary.run_id]
    assert (warning["severity"], warning["reason"], warning["field"]) == (
        "warning",
        "email_conflict",
        "email",
    )
    # Named as an operator finds them: the record refused the address (its line, its id) and
    # the record whose customer holds it; customer pks mean nothing outside the store.
    assert (warning["line"], warning["source_id"]) == (2, "c-bob")
    assert warning["message"] == (
        "CSV c-bob (line 2): its customer was not given e-mail ann@example.com, "
        "which CSV c-ann holds; kept on the source row"
    )

    customers = {r["entity_source_id"]: r for r in table_rows(db_url, "customer")}
    assert set(customers) == {"c-ann", "c-bob"}  # still two people
    ann, bob = customers["c-ann"], customers["c-bob"]
    assert (ann["email"], ann["firstname"], ann["lastname"]) == ("ann@example.com", "Ann", "Lee")
    # Bob keeps his own address and takes the rest of his update.
    assert (bob["email"], bob["firstname"]) == ("bob@example.com", "Bobby")
    # The claimed address is kept on Bob's source row, which still belongs to Bob.
    sources = {r["source_id"]: r for r in table_rows(db_url, "customer_source")}
    assert _payload(sources["c-bob"]["payload"])["email"] == "ann@example.com"
    assert sources["c-bob"]["customer_pk"] == bob["pk"] != ann["pk"] == sources["c-ann"]["customer_pk"]

    # Replaying the same update changes nothing and merges nothing.
    again = run_csv(db_url, later, preset_name="native")
    assert (again.counts["unchanged"], again.counts["updated"]) == (1, 0)
    assert {r["entity_source_id"]: r["email"] for r in table_rows(db_url, "customer")} == {
        "c-ann": "ann@example.com",
        "c-bob": "bob@example.com",
    }


def test_two_customers_who_exchange_addresses_in_one_file_each_take_the_other(
    db_url: str, tmp_path: Path
) -> None:
    _import_ann_and_bob(db_url, tmp_path)
    # Both addresses move within one batch: each is still held by the other customer when the
    # batch is written, so the loader clears them before setting them (the unique index).
    later = native(
        tmp_path / "later.csv",
        ["c-ann", "bob@example.com", "Ann", "Lee", "2025-02-01T10:00:00+00:00"],
        ["c-bob", "ann@example.com", "Bob", "Ng", "2025-02-01T10:00:00+00:00"],
    )
    summary = run_csv(db_url, later, preset_name="native")

    assert summary.status == "succeeded", summary.error
    assert (summary.counts["updated"], summary.counts["conflicts"]) == (2, 0)
    assert {r["entity_source_id"]: r["email"] for r in table_rows(db_url, "customer")} == {
        "c-ann": "bob@example.com",
        "c-bob": "ann@example.com",
    }


def test_a_holder_recomputed_beside_a_customer_that_wants_its_address_keeps_it(
    db_url: str, tmp_path: Path
) -> None:
    """Found by review: X (the lower pk) was refused O's address once and asks again in the
    batch that also updates O. Read a line at a time, O keeps it; read in one batch, X took it
    and O was left without one."""
    first = native(
        tmp_path / "first.csv",
        ["X", "x@example.com", "Xa", "", "2026-01-01T00:00:00+00:00"],
        ["O", "own@example.com", "Ow", "", "2026-01-01T00:00:00+00:00"],
    )
    refused = native(
        tmp_path / "refused.csv", ["X", "own@example.com", "Xa", "", "2026-02-01T00:00:00+00:00"]
    )
    both = native(
        tmp_path / "both.csv",
        ["X", "own@example.com", "Xb", "", "2026-03-01T00:00:00+00:00"],
        ["O", "own@example.com", "Ow2", "", "2026-03-01T00:00:00+00:00"],
    )
    for path in (first, refused):
        assert run_csv(db_url, path, preset_name="native").status == "succeeded"
    summary = run_csv(db_url, both, preset_name="native", batch_size=5000)

    emails = {r["entity_source_id"]: r["email"] for r in table_rows(db_url, "customer")}
    assert emails == {"X": "x@example.com", "O": "own@example.com"}
    assert (summary.counts["updated"], summary.counts["conflicts"]) == (2, 1)
    assert_counts_add_up(summary)


@pytest.mark.parametrize("batch_size", [1, 5000])
def test_an_address_given_up_in_a_batch_goes_to_the_customer_refused_it_before(
    db_url: str, tmp_path: Path, batch_size: int
) -> None:
    """Found by review: customer 1 (a, a2) was refused w@, which Dan's customer held. The batch
    that moves Dan to d2@ and touches customer 1 gives it w@ (its newest source names it), as a
    batch of one line at a time does, whoever is weighed first."""
    steps = [
        [
            ["a", "x@example.com", "Ann", "", "2026-01-01T00:00:00+00:00"],
            ["d", "w@example.com", "Dan", "", "2026-01-01T00:00:00+00:00"],
        ],
        [["a2", "x@example.com", "Ann", "", "2026-02-01T00:00:00+00:00"]],
        [["a2", "w@example.com", "Ann", "", "2026-03-01T00:00:00+00:00"]],
        [
            ["d", "d2@example.com", "Dan", "", "2026-03-01T00:00:00+00:00"],
            ["a", "x@example.com", "Ann B", "", "2026-01-02T00:00:00+00:00"],
        ],
    ]
    for i, rows in enumerate(steps):
        summary = run_csv(
            db_url, native(tmp_path / f"p{i}.csv", *rows), preset_name="native", batch_size=batch_size
        )
        assert summary.status == "succeeded"
    assert summary.counts["conflicts"] == 0
    emails = sorted((r["firstname"], r["email"]) for r in table_rows(db_url, "customer"))
    assert emails == [("Ann", "w@example.com"), ("Dan", "d2@example.com")]  # a2 is the newest


@pytest.mark.parametrize("batch_size", [1, 5000])
def test_an_address_a_customer_only_kept_goes_to_the_customer_whose_source_names_it(
    db_url: str, tmp_path: Path, batch_size: int
) -> None:
    """Found by review: Bob's record drops its e-mail (his customer keeps m1@ rather than have
    none), then Ann's names m1@. One line at a time Ann was refused (Bob's customer was not
    weighed), in one batch she took it: now both take it, and Bob's customer has none."""
    native(
        tmp_path / "k1.csv", ["a", "m0@example.com", "Ann", "", ""], ["b", "m1@example.com", "Bob", "", ""]
    )
    native(tmp_path / "k2.csv", ["b", "", "Bob", "", ""], ["a", "m1@example.com", "Ann", "", ""])
    for name in ("k1.csv", "k2.csv"):
        summary = run_csv(db_url, tmp_path / name, preset_name="native", batch_size=batch_size)
        assert summary.status == "succeeded"
    assert summary.counts["conflicts"] == 0
    emails = sorted((r["firstname"], r["email"]) for r in table_rows(db_url, "customer"))
    assert emails == [("Ann", "m1@example.com"), ("Bob", None)]


@pytest.mark.parametrize("batch_size", [1, 5000])
def test_a_customer_that_gives_up_an_address_never_takes_one_a_third_customer_holds(
    db_url: str, tmp_path: Path, batch_size: int
) -> None:
    """Found by review: B kept m2@ only for want of another (its source names m3@, Ann's), D's
    source then names m2@. D takes it; B, left without one, must not take m3@ (whose holder
    was not read): the write broke the unique index, and every re-run with it."""
    files = [["a", "m3@example.com"], ["b", "m2@example.com"], ["b", "m3@example.com"]]
    files += [["d", "m0@example.com"], ["d", "m2@example.com"]]
    for i, (sid, email) in enumerate(files):
        path = native(tmp_path / f"m{i}.csv", [sid, email, sid.upper(), "", ""])
        summary = run_csv(db_url, path, preset_name="native", batch_size=batch_size)
        assert summary.status == "succeeded", summary.error
        assert_counts_add_up(summary)
    emails = sorted((r["firstname"], r["email"]) for r in table_rows(db_url, "customer"))
    assert emails == [("A", "m3@example.com"), ("B", None), ("D", "m2@example.com")]
