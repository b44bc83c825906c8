"""The golden record follows the documented rule, whatever order sources, replays and deletes arrive in.

The rule (README, "How it works"): each field comes from the highest-priority live source
that has one; ties go to the newer stamp, then to a fixed order. A customer with no live
source keeps the fields of its tombstoned rows and is inactive. `expected_golden` below is
an independent model of that rule; the tests compare the product with it field by field.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import GOLDEN_FIELDS, SourceTombstone, get_engine
from sync.load import SourceRow, compute_golden
from sync.load.golden import GOLDEN_STAGE_COLUMNS, golden_of_one, golden_row_of_one
from sync.settings import Settings
from tests.conftest import truncate_all
from tests.sync.helpers import golden_view, run_csv, table_rows

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)
# The fields the generated payloads carry (a subset of the golden fields is enough to
# tell which row won each one).
FIELDS = ("firstname", "lastname", "city", "phone_number", "birthday")


# --- the independent model --------------------------------------------------------------


def _beats(a: SourceRow, b: SourceRow) -> bool:
    """Whether `a` outranks `b`: priority, then the newer stamp (a missing one is oldest),
    then the fixed order (source, then source id, ascending)."""
    if a.priority != b.priority:
        return a.priority > b.priority
    if a.modstamp != b.modstamp:
        if a.modstamp is None or b.modstamp is None:
            return b.modstamp is None
        return a.modstamp > b.modstamp
    return (a.source, a.source_id) < (b.source, b.source_id)


def _winner(candidates: list[SourceRow]) -> SourceRow | None:
    best: SourceRow | None = None
    for row in candidates:
        if best is None or _beats(row, best):
            best = row
    return best


def _has(row: SourceRow, name: str) -> bool:
    return row.payload.get(name) not in (None, "")


def expected_golden(rows: list[SourceRow], *, has_login: bool = False) -> dict[str, Any]:
    """What the README says the customer's fields are, computed one field at a time."""
    live = [r for r in rows if not r.deleted]
    voters = live or rows  # no live source: the tombstoned rows still describe the person
    out: dict[str, Any] = {}
    for name in FIELDS:
        best = _winner([r for r in voters if _has(r, name)])
        out[name] = best.payload[name] if best else None
    # extraInfo merges every voter's keys; for each key the best row holding it wins.
    keys = {k for r in voters for k in (r.payload.get("extra_info") or {})}
    extra = {}
    for key in keys:
        best = _winner([r for r in voters if key in (r.payload.get("extra_info") or {})])
        assert best is not None
        extra[key] = best.payload["extra_info"][key]
    out["extra_info"] = extra
    out["active"] = bool(live) or has_login
    stamps = [r.deleted_at for r in rows if r.deleted_at is not None]
    out["deleted_at"] = None if out["active"] else (max(stamps) if stamps else None)
    return out


def _as_compared(golden: dict[str, Any]) -> dict[str, Any]:
    got = {name: golden[name] for name in FIELDS}
    for name in ("firstname", "lastname"):
        got[name] = got[name] or None  # the product stores "" for a missing name
    if isinstance(got["birthday"], dt.date):
        got["birthday"] = got["birthday"].isoformat()
    return {
        **got,
        "extra_info": golden["extra_info"],
        "active": golden["active"],
        "deleted_at": golden["deleted_at"],
    }


# --- compute_golden against the model ----------------------------------------------------

# Real source names with their real default priorities: `shopify` and `shopify-eu` (60) and
# `crm-a`/`crm-b` (the CSV family, 30) tie on priority, so stamps and the fixed order decide.
_SOURCES = {"salesforce": 80, "shopify": 60, "shopify-eu": 60, "mailchimp": 40, "crm-a": 30, "crm-b": 30}
_STAMPS = st.none() | st.sampled_from([T0 + dt.timedelta(hours=h) for h in range(4)])


@st.composite
def source_rows(draw: st.DrawFn) -> list[SourceRow]:
    """One customer's source rows: several sources, priority ties, stamp ties, tombstones, and
    the same source id under different sources."""
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(_SOURCES)), st.sampled_from(["1", "2", "7"])),
            min_size=1,
            max_size=7,
            unique=True,
        )
    )
    rows = []
    for source, source_id in keys:
        payload = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "firstname": st.sampled_from(["Ann", "Bo", "Cy", ""]),
                    "lastname": st.sampled_from(["Lee", "Ng", ""]),
                    "city": st.none() | st.sampled_from(["Oslo", "Rome", "Lima"]),
                    "phone_number": st.sampled_from(["+4930123456", "+4740000000"]),
                    "birthday": st.sampled_from(["1990-05-17", "1985-01-02"]),
                    "extra_info": st.dictionaries(
                        st.sampled_from(["tier", "tags", "note"]), st.integers(0, 3)
                    ),
                },
            )
        )
        deleted = draw(st.booleans())
        deleted_at = draw(st.sampled_from([T0 + dt.timedelta(days=d) for d in range(3)])) if deleted else None
        rows.append(
            SourceRow(source, source_id, "CSV", _SOURCES[source], draw(_STAMPS), payload, deleted, deleted_at)
        )
    return rows


@settings(max_examples=250, deadline=None)
@given(source_rows(), st.booleans(), st.randoms(use_true_random=False))
def test_compute_golden_picks_each_field_as_the_rule_says_in_any_order(
    rows: list[SourceRow], has_login: bool, rnd: random.Random
) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    got = _as_compared(compute_golden(shuffled, has_login=has_login))
    assert got == expected_golden(rows, has_login=has_login)


@settings(max_examples=250, deadline=None)
@given(source_rows())
def test_the_one_source_shortcut_gives_what_the_rule_gives(rows: list[SourceRow]) -> None:
    """A new customer made by one record takes `golden_of_one`; it must equal the general rule."""
    live = replace(rows[0], deleted=False, deleted_at=None)
    assert golden_of_one(live.payload) == compute_golden([live], has_login=False)


_GOLDEN_VALUES = st.one_of(st.none(), st.just(""), st.text(max_size=4))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from([f for f in GOLDEN_FIELDS if f != "birthday"]), _GOLDEN_VALUES),
    st.one_of(st.none(), st.just(""), st.dates().map(dt.date.isoformat)),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)),
)
def test_the_staged_row_of_one_source_is_golden_of_one(
    fields: dict[str, Any], birthday: str | None, extra: dict[str, Any] | None
) -> None:
    """What a new customer is staged with equals `golden_of_one`, column by column."""
    fields = {**fields, "birthday": birthday}
    golden = golden_of_one({**fields, "extra_info": extra})
    assert golden_row_of_one(fields, extra) == [golden[c.name] for c in GOLDEN_STAGE_COLUMNS]


def _row(source: str, stamp: dt.datetime | None, deleted: bool = False, **payload: Any) -> SourceRow:
    return SourceRow(source, "x", "CSV", _SOURCES[source], stamp, payload, deleted, T0 if deleted else None)


def test_the_rule_by_example() -> None:
    """The model's reading of the rule, pinned on hand-written cases (so the model itself is tested)."""
    old, new = T0, T0 + dt.timedelta(hours=1)
    rows = [
        _row("salesforce", old, deleted=True, firstname="Dead"),  # highest, but tombstoned
        _row("crm-a", new, firstname="Newer", city="Oslo"),  # ties crm-b on priority, newer
        _row("crm-b", old, firstname="Older", city="Rome", lastname="OnlyHere"),
        _row("shopify", None, city="Lima"),  # outranks both CSVs, though it has no stamp
    ]
    for golden in (expected_golden(rows), _as_compared(compute_golden(rows, has_login=False))):
        assert (golden["firstname"], golden["lastname"], golden["city"]) == ("Newer", "OnlyHere", "Lima")
        assert golden["active"] is True
    same_stamp = [_row("crm-b", old, firstname="B"), _row("crm-a", old, firstname="A")]
    assert expected_golden(same_stamp)["firstname"] == "A"  # the fixed order: source name
    assert _as_compared(compute_golden(same_stamp, has_login=False))["firstname"] == "A"
    all_dead = [_row("crm-a", new, deleted=True, firstname="Gone")]
    assert _as_compared(compute_golden(all_dead, has_login=False))["active"] is False
    assert _as_compared(compute_golden(all_dead, has_login=True))["active"] is True


# --- imports through the pipeline in any order ------------------------------------------

NATIVE_HEADER = ["entitySourceId", "email", "firstname", "lastname", "city", "updatedAt", "deleted"]
# Imported as native CSV under these source names, so priorities come from the real settings.
_IMPORT_SOURCES = ("shopify", "hubspot", "crm-a", "crm-b")  # 60, 55, 30, 30


@dataclass
class Version:
    """One version of one source record, as a file line."""

    source: str
    source_id: str
    person: int
    stamp: dt.datetime
    fields: dict[str, str]
    deleted: bool = False

    def line(self) -> list[str]:
        f = self.fields
        return [
            self.source_id,
            f"p{self.person}@example.com",
            f.get("firstname", ""),
            f.get("lastname", ""),
            f.get("city", ""),
            self.stamp.isoformat(),
            "true" if self.deleted else "",
        ]


@dataclass
class Scenario:
    """Per source a base export and a later delta (updates and deletes), in some arrival order."""

    files: dict[str, list[Version]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def final_rows(self, priority_of: Any) -> dict[int, list[SourceRow]]:
        """The store's source rows after every file, per person: newest stamp per record; a
        tombstone keeps its record's last live fields."""
        newest: dict[tuple[str, str], Version] = {}
        base: dict[tuple[str, str], Version] = {}
        for name, versions in self.files.items():
            for v in versions:
                key = (v.source, v.source_id)
                if name.endswith(":base"):
                    base[key] = v
                if key not in newest or v.stamp > newest[key].stamp:
                    newest[key] = v
        people: dict[int, list[SourceRow]] = {}
        for key, v in newest.items():
            fields = base[key].fields if v.deleted else v.fields
            payload = {k: val for k, val in fields.items() if val}
            people.setdefault(v.person, []).append(
                SourceRow(
                    v.source, v.source_id, "CSV", priority_of(v.source), v.stamp, payload, v.deleted, None
                )
            )
        return people


_VALUES = {
    "firstname": st.sampled_from(["Ann", "Bo", "Cy", ""]),
    "lastname": st.sampled_from(["Lee", "Ng", ""]),
    "city": st.sampled_from(["Oslo", "Rome", "Lima", ""]),
}


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Overlapping people across 2-4 sources; stamps drawn from few values, so equal-priority
    sources often differ by stamp alone and sometimes not at all; some records later updated,
    some deleted; the delta of a source arrives after its base, anything else in any order,
    then replays of any file."""
    sources = draw(st.lists(st.sampled_from(_IMPORT_SOURCES), min_size=2, max_size=4, unique=True))
    scenario = Scenario()
    for source in sources:
        people = draw(st.lists(st.integers(0, 5), min_size=1, max_size=5, unique=True))
        base, delta = [], []
        for person in people:
            sid = f"{source[:2]}{person}"
            stamp = T0 + dt.timedelta(hours=draw(st.integers(0, 2)))
            fields = draw(st.fixed_dictionaries(_VALUES))
            base.append(Version(source, sid, person, stamp, fields))
            change = draw(st.sampled_from(["none", "update", "delete"]))
            later = stamp + dt.timedelta(hours=draw(st.integers(1, 3)))
            if change == "update":
                delta.append(Version(source, sid, person, later, draw(st.fixed_dictionaries(_VALUES))))
            elif change == "delete":
                delta.append(Version(source, sid, person, later, {}, deleted=True))
        scenario.files[f"{source}:base"] = base
        if delta:
            scenario.files[f"{source}:delta"] = delta
    # Interleave: bases in any order, each delta anywhere after its own base.
    order = draw(st.permutations([f"{s}:base" for s in sources]))
    for name in draw(st.permutations([n for n in scenario.files if n.endswith(":delta")])):
        after = order.index(name.replace(":delta", ":base")) + 1
        order.insert(draw(st.integers(after, len(order))), name)
    replays = draw(st.lists(st.sampled_from(sorted(scenario.files)), max_size=3))
    scenario.order = [*order, *replays]
    return scenario


def _write(directory: Path, name: str, versions: list[Version]) -> Path:
    path = directory / f"{name.replace(':', '-')}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(NATIVE_HEADER)
        writer.writerows(v.line() for v in versions)
    return path


def _store_view(url: str) -> dict[str, dict[str, Any]]:
    out = {}
    for email, row in golden_view(url).items():
        out[email] = {
            **{name: row[name] or None for name in ("firstname", "lastname", "city")},
            "active": row["active"],
            "deleted": row["deleted_at"] is not None,
        }
    return out


@pytest.mark.parametrize(("store", "examples"), [("sqlite_url", 25), ("pg_url", 8)])
def test_exports_with_updates_deletes_and_replays_in_any_order_give_the_documented_golden_records(
    store: str, examples: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url: str = request.getfixturevalue(store)
    priority_of = Settings(database_url=url).priority_of

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(scenarios())
    def arrival_order_does_not_matter(scenario: Scenario) -> None:
        truncate_all(get_engine(url))
        for name in scenario.order:
            path = _write(tmp_path, name, scenario.files[name])
            summary = run_csv(url, path, batch_size=3, preset_name="native", source_name=name.split(":")[0])
            assert summary.status == "succeeded"
            assert summary.counts.get("rejected", 0) == 0
        expected = {}
        for person, rows in scenario.final_rows(priority_of).items():
            golden = expected_golden(rows)
            expected[f"p{person}@example.com"] = {
                "firstname": golden["firstname"],
                "lastname": golden["lastname"],
                "city": golden["city"],
                "active": golden["active"],
                "deleted": not golden["active"],
            }
        assert _store_view(url) == expected

    arrival_order_does_not_matter()


def _native(directory: Path, name: str, *versions: Version) -> Path:
    return _write(directory, name, list(versions))


def test_ties_in_source_priority_go_to_the_newer_stamp_whichever_arrives_last(
    db_url: str, tmp_path: Path
) -> None:
    priority_of = Settings(database_url=db_url).priority_of
    assert priority_of("crm-a") == priority_of("crm-b")  # the premise: a tie on priority
    newer = _native(
        tmp_path,
        "a",
        Version("crm-a", "a1", 1, T0 + dt.timedelta(hours=2), {"firstname": "Newer", "lastname": "A"}),
    )
    older = _native(
        tmp_path,
        "b",
        Version(
            "crm-b",
            "b1",
            1,
            T0 + dt.timedelta(hours=1),
            {"firstname": "Older", "lastname": "B", "city": "Rome"},
        ),
    )
    for order in ([(newer, "crm-a"), (older, "crm-b")], [(older, "crm-b"), (newer, "crm-a")]):
        truncate_all(get_engine(db_url))
        for path, source in order:
            run_csv(db_url, path, preset_name="native", source_name=source)
        (person,) = golden_view(db_url).values()
        # The newer stamp wins each field it has; a field only the older row has still comes from it.
        assert (person["firstname"], person["lastname"], person["city"]) == ("Newer", "A", "Rome")


def _tombstones(url: str) -> list[tuple[str, str, dt.datetime | None]]:
    tomb = SourceTombstone.__table__  # type: ignore[attr-defined]
    with get_engine(url).connect() as conn:
        found = conn.execute(sa.select(tomb.c.source, tomb.c.source_id, tomb.c.modstamp)).all()
    return [tuple(row) for row in found]


def test_a_delete_that_arrives_before_the_older_record_it_deletes_still_wins(
    db_url: str, tmp_path: Path
) -> None:
    live = _native(tmp_path, "live", Version("crm-a", "a1", 1, T0, {"firstname": "Ann"}))
    gone = _native(tmp_path, "gone", Version("crm-a", "a1", 1, T0 + dt.timedelta(hours=1), {}, deleted=True))
    for path in (gone, live, gone, live):  # replays change nothing either
        summary = run_csv(db_url, path, preset_name="native", source_name="crm-a")
        assert (summary.counts["unchanged"], summary.counts["created"]) == (1, 0), summary.counts
        assert golden_view(db_url) == {}
    assert table_rows(db_url, "customer_source") == []
    assert _tombstones(db_url) == [("crm-a", "a1", T0 + dt.timedelta(hours=1))]


def test_a_record_newer_than_its_early_delete_revives_it_and_the_tombstone_goes(
    db_url: str, tmp_path: Path
) -> None:
    gone = _native(tmp_path, "gone", Version("crm-a", "a1", 1, T0 + dt.timedelta(hours=1), {}, deleted=True))
    back = _native(
        tmp_path, "back", Version("crm-a", "a1", 1, T0 + dt.timedelta(hours=2), {"firstname": "Bo"})
    )
    run_csv(db_url, gone, preset_name="native", source_name="crm-a")
    summary = run_csv(db_url, back, preset_name="native", source_name="crm-a")
    assert summary.counts["created"] == 1, summary.counts
    (person,) = golden_view(db_url).values()
    assert (person["firstname"], person["active"]) == ("Bo", True)
    assert _tombstones(db_url) == []
    # The same delete replayed is older than the record now stored: it changes nothing.
    assert run_csv(db_url, gone, preset_name="native", source_name="crm-a").counts["unchanged"] == 1
    assert [p["active"] for p in golden_view(db_url).values()] == [True]
