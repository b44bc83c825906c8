"""The golden record: a customer's fields as a pure function of its source rows."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from models import Customer, CustomerLogin, CustomerSource
from models._types import JSONType, UTCDateTime, utcnow
from models.customer import GOLDEN_FIELDS
from sync.load.sets import one_of
from sync.load.staging import drop, staged_rows, temp_table

_IN_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class SourceRow:
    """What the golden rule reads of one source row."""

    source: str
    source_id: str
    entity_source: str
    priority: int
    modstamp: datetime | None
    payload: dict[str, Any]
    deleted: bool
    deleted_at: datetime | None


def _precedence(row: SourceRow) -> tuple[int, float, str, str]:
    # Highest priority first; ties to the newer stamp; then a fixed order, so the result
    # never depends on which row arrived first.
    stamp = row.modstamp.timestamp() if row.modstamp else float("-inf")
    return (-row.priority, -stamp, row.source, row.source_id)


def email_candidates(rows: Sequence[SourceRow]) -> list[str]:
    """E-mails the customer could carry, best first."""
    live = [r for r in rows if not r.deleted] or list(rows)
    seen: list[str] = []
    for row in sorted(live, key=_precedence):
        email = row.payload.get("email")
        if email and email not in seen:
            seen.append(email)
    return seen


def compute_golden(rows: Sequence[SourceRow], has_login: bool) -> dict[str, Any]:
    """The customer's synced columns from its source rows (email resolved separately)."""
    live = sorted((r for r in rows if not r.deleted), key=_precedence)
    ordered = live or sorted(rows, key=_precedence)
    golden: dict[str, Any] = {}
    for name in GOLDEN_FIELDS:
        golden[name] = next((r.payload[name] for r in ordered if r.payload.get(name) not in (None, "")), None)
    golden["firstname"] = golden["firstname"] or ""
    golden["lastname"] = golden["lastname"] or ""
    if isinstance(golden["birthday"], str):
        golden["birthday"] = date.fromisoformat(golden["birthday"])
    extra: dict[str, Any] = {}
    for row in reversed(ordered):  # lowest first, so higher priority overwrites
        extra.update(row.payload.get("extra_info") or {})
    golden["extra_info"] = extra
    active = bool(live) or has_login
    golden["active"] = active
    golden["deleted_at"] = None if active else max((r.deleted_at for r in rows if r.deleted_at), default=None)
    return golden


def golden_of_one(payload: dict[str, Any]) -> dict[str, Any]:
    """`compute_golden` of a customer with one live source row: no sorting, no voting."""
    golden: dict[str, Any] = {
        name: value if (value := payload.get(name)) not in (None, "") else None for name in GOLDEN_FIELDS
    }
    golden["firstname"] = golden["firstname"] or ""
    golden["lastname"] = golden["lastname"] or ""
    if isinstance(golden["birthday"], str):
        golden["birthday"] = date.fromisoformat(golden["birthday"])
    golden["extra_info"] = dict(payload.get("extra_info") or {})
    golden["active"] = True
    golden["deleted_at"] = None
    return golden


def golden_row_of_one(fields: Mapping[str, Any], extra_info: Mapping[str, Any] | None) -> list[Any]:
    """`golden_of_one({**fields, "extra_info": extra_info})` as the values of
    `GOLDEN_STAGE_COLUMNS`, in order: what a new customer is staged with, without a dict each.

    Tested against `golden_of_one` (tests/sync/test_golden_order.py).
    """
    get = fields.get
    row: list[Any] = [None if (value := get(name)) in (None, "") else value for name in GOLDEN_FIELDS]
    row[_FIRSTNAME] = row[_FIRSTNAME] or ""
    row[_LASTNAME] = row[_LASTNAME] or ""
    if isinstance(row[_BIRTHDAY], str):
        row[_BIRTHDAY] = date.fromisoformat(row[_BIRTHDAY])
    row.append(dict(extra_info or {}))
    row.append(True)  # active
    row.append(None)  # deleted_at
    return row


_FIRSTNAME, _LASTNAME, _BIRTHDAY = (GOLDEN_FIELDS.index(n) for n in ("firstname", "lastname", "birthday"))


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]


# entitySource/entitySourceId are not here: they name the source that created the customer
# (as the API documents them), set once at creation, not a vote among the sources.
_COMPARED = (*GOLDEN_FIELDS, "extra_info", "active", "deleted_at")

_golden_stage = temp_table(
    "stage_golden",
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("email", sa.String),
    sa.Column("firstname", sa.String),
    sa.Column("lastname", sa.String),
    sa.Column("phone_number", sa.String),
    sa.Column("birthday", sa.Date),
    sa.Column("gender", sa.String),
    sa.Column("country", sa.String),
    sa.Column("city", sa.String),
    sa.Column("street", sa.String),
    sa.Column("zip_code", sa.String),
    sa.Column("address", sa.String),
    sa.Column("picture", sa.String),
    sa.Column("secondary_email", sa.String),
    sa.Column("extra_info", JSONType),
    sa.Column("active", sa.Boolean),
    sa.Column("deleted_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime),
)


# The computed columns as staged (all but the key and the stamp).
GOLDEN_STAGE_COLUMNS: tuple[sa.Column[Any], ...] = tuple(
    c for c in _golden_stage.columns if c.name not in ("pk", "updated_at")
)
# `golden_row_of_one` relies on this order: the golden fields, then the three it adds.
assert tuple(c.name for c in GOLDEN_STAGE_COLUMNS) == (*GOLDEN_FIELDS, "extra_info", "active", "deleted_at")


@dataclass(slots=True)
class RecomputeResult:
    """What a recompute changed, and the e-mail conflicts it found."""

    changed: int
    changed_pks: set[int]
    conflicts: list[tuple[int, str, int]]  # (customer pk, wanted e-mail, holder pk)


def recompute_customers(conn: sa.Connection, customer_pks: Collection[int]) -> RecomputeResult:
    """Recompute and write the golden record of each customer, set-wise.

    The customers holding an address one of them names are recomputed beside them (and may
    give it up, `_resolve_emails`); conflicts are reported for `customer_pks` alone.
    """
    pks = sorted(set(customer_pks))
    if not pks:
        return RecomputeResult(0, set(), [])
    rows: dict[int, list[SourceRow]] = {}
    current: dict[int, dict[str, Any]] = {}
    with_login: set[int] = set()
    _load(conn, pks, rows, current, with_login)
    wanted = {pk: email_candidates(rows[pk]) for pk in pks if pk in current}
    holders = _holders(conn, sorted({e for cands in wanted.values() for e in cands}))
    # The other customers holding an address one of these names are weighed too: one that no
    # longer names it (kept only for want of another) gives it up, as in one batch it would.
    others = sorted({pk for pk in holders.values() if pk not in current})
    if others:
        _load(conn, others, rows, current, with_login)
        wanted.update({pk: email_candidates(rows[pk]) for pk in others if pk in current})
        # Who holds what they name: a customer weighed may only move to an address whose
        # holder is known (else two would end with one address). Those holders are not
        # weighed, so they keep theirs.
        more = {e for pk in others for e in wanted.get(pk, [])} - holders.keys()
        holders.update(_holders(conn, sorted(more)))

    goldens = {pk: compute_golden(rows[pk], pk in with_login) for pk in current}
    asked = set(pks)
    # Conflicts are reported for the customers asked for: another's (an address it was refused
    # before) was reported by the run that refused it.
    conflicts = [c for c in _resolve_emails(goldens, wanted, current, holders, with_login) if c[0] in asked]

    now = utcnow()
    changed = []
    for pk, golden in goldens.items():
        if any(golden[n] != current[pk][n] for n in _COMPARED):
            changed.append({"pk": pk, **golden, "updated_at": now})
    if changed:
        # Whether any stored address is to be cleared or replaced (`_write`'s first step).
        moves = any(current[c["pk"]]["email"] not in (None, c["email"]) for c in changed)
        _write(conn, changed, moves)
    return RecomputeResult(len(changed), {c["pk"] for c in changed}, conflicts)


def _load(
    conn: sa.Connection,
    pks: Sequence[int],
    rows: dict[int, list[SourceRow]],
    current: dict[int, dict[str, Any]],
    with_login: set[int],
) -> None:
    """Read these customers' source rows, their synced columns as stored, and which have a login."""
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    cust = Customer.__table__  # type: ignore[attr-defined]
    login = CustomerLogin.__table__  # type: ignore[attr-defined]
    rows.update({pk: [] for pk in pks})
    for chunk in _chunks(pks):
        for r in conn.execute(sa.select(cs).where(one_of(conn, cs.c.customer_pk, chunk))).mappings():
            rows[r["customer_pk"]].append(
                SourceRow(
                    r["source"],
                    r["source_id"],
                    r["entity_source"],
                    r["priority"],
                    r["modstamp"],
                    r["payload"] or {},
                    r["deleted"],
                    r["deleted_at"],
                )
            )
        # Whether each has a login, in the same statement (one round trip fewer per batch).
        has_login = sa.exists().where(login.c.customer_pk == cust.c.pk).label("has_login")
        for r in conn.execute(
            sa.select(cust.c.pk, *[cust.c[n] for n in _COMPARED], has_login).where(
                one_of(conn, cust.c.pk, chunk)
            )
        ).mappings():
            found = current[r["pk"]] = dict(r)
            if found.pop("has_login"):
                with_login.add(r["pk"])


def _holders(conn: sa.Connection, emails: Sequence[str]) -> dict[str, int]:
    """The customer holding each of these addresses, if any."""
    cust = Customer.__table__  # type: ignore[attr-defined]
    holders: dict[str, int] = {}
    for i in range(0, len(emails), _IN_CHUNK):
        for pk, email in conn.execute(
            sa.select(cust.c.pk, cust.c.email).where(one_of(conn, cust.c.email, emails[i : i + _IN_CHUNK]))
        ):
            holders[email] = pk
    return holders


def _resolve_emails(
    goldens: dict[int, dict[str, Any]],
    wanted: dict[int, list[str]],
    current: dict[int, dict[str, Any]],
    holders: dict[str, int],
    with_login: set[int],
) -> list[tuple[int, str, int]]:
    """Give each customer its best e-mail that no other customer holds; report the rest.

    `wanted`: each customer's addresses, best first (`email_candidates`); `holders`: who holds
    each wanted address now. A customer with a login never has its address taken (its own
    `internal` source row names it; one that does not is not second-guessed here).
    """
    # Each customer starts with what it holds, and moves only to an address it ranks higher
    # that is free, or held by a customer weighed here whose sources no longer name it (kept
    # there only so as not to lose an address): recomputed one at a time (a batch of one), a
    # holder keeps an address it still names whoever asks, and gives it up when it moves on.
    # Rounds until no one moves, in pk order within a round: every move is a step up for the
    # mover, and an address kept only for want of another is taken at most once.
    held = {pk: current[pk]["email"] for pk in goldens if current[pk]["email"]}
    holders.update({email: pk for pk, email in held.items()})
    rank = {pk: {email: i for i, email in enumerate(wanted[pk])} for pk in goldens}
    moved = True
    while moved:
        moved = False
        for pk in sorted(goldens):
            mine = held.get(pk)
            now = rank[pk].get(mine, len(wanted[pk])) if mine else len(wanted[pk]) + 1
            for email in wanted[pk][:now]:
                holder = holders.get(email)
                if holder not in (None, pk) and (
                    holder not in rank or email in rank[holder] or holder in with_login
                ):
                    continue  # its holder names it too (or is not weighed here, or signs in with it)
                if holder not in (None, pk):
                    del held[holder]  # kept only for want of another: given up
                if mine:
                    del holders[mine]
                holders[email], held[pk] = pk, email
                moved = True
                break
    conflicts: list[tuple[int, str, int]] = []
    for pk in sorted(goldens):
        chosen = held.get(pk)
        if chosen is None and current[pk]["email"] and current[pk]["email"] not in holders:
            chosen = current[pk]["email"]  # keep what it had rather than lose its address
            holders[chosen] = pk
        goldens[pk]["email"] = chosen
        better = wanted[pk][: rank[pk][chosen]] if chosen in rank[pk] else wanted[pk]
        conflicts += [(pk, email, holders[email]) for email in better if holders.get(email) not in (None, pk)]
    return conflicts


def _write(conn: sa.Connection, changed: list[dict[str, Any]], moves: bool = True) -> None:
    """Write the changed golden records; `moves`: whether any of them drops or replaces the
    e-mail its customer holds now."""
    cust = Customer.__table__  # type: ignore[attr-defined]
    names = [c.name for c in _golden_stage.columns if c.name != "pk"]
    every = [c.name for c in _golden_stage.columns]
    s = staged_rows(conn, _golden_stage, [[row.get(n) for n in every] for row in changed])
    if moves:
        # Clear e-mails first, so swapping two addresses within one batch never trips the index.
        conn.execute(
            sa.update(cust)
            .where(cust.c.pk == s.c.pk)
            .where(cust.c.email.is_not(None))
            .where(sa.or_(s.c.email.is_(None), cust.c.email != s.c.email))
            .values(email=None)
        )
    conn.execute(sa.update(cust).where(cust.c.pk == s.c.pk).values({n: s.c[n] for n in names}))
    drop(conn, _golden_stage)
