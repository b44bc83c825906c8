"""The customer loader: one batch in one transaction, set-wise, with identity resolution."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from models import Customer, CustomerSource, SourceTombstone, SyncSeen
from models._types import JSONType, UTCDateTime, utcnow
from models.enums import RecordOutcome
from sync.load.golden import GOLDEN_STAGE_COLUMNS, golden_row_of_one, recompute_customers
from sync.load.identity import customers_for_emails, unverified_sign_up
from sync.load.pk_set import PkSet
from sync.load.sets import one_of
from sync.load.staging import JsonText, copy_into, drop, stage, stage_values, staged_rows, temp_table
from sync.load.upsert import upsert_from
from sync.mapping import Draft, Issue, new_loyalty_ids

_stage_source = temp_table(
    "stage_source",
    sa.Column("source", sa.String),
    sa.Column("source_id", sa.String, primary_key=True),
    sa.Column("entity_source", sa.String),
    sa.Column("customer_pk", sa.Integer),
    sa.Column("priority", sa.Integer),
    sa.Column("modstamp", UTCDateTime),
    sa.Column("content_hash", sa.String),
    sa.Column("raw_hash", sa.String),
    sa.Column("payload", JSONType),
    sa.Column("deleted", sa.Boolean),
    sa.Column("deleted_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime),
)

_stage_tombstone = temp_table(
    "stage_tombstone",
    sa.Column("source", sa.String),
    sa.Column("source_id", sa.String, primary_key=True),
    sa.Column("entity_source", sa.String),
    sa.Column("modstamp", UTCDateTime),
    sa.Column("deleted_at", UTCDateTime),
)

_stage_new_customer = temp_table(
    "stage_new_customer",
    sa.Column("loyalty_id", sa.String, primary_key=True),
    *(sa.Column(c.name, c.type) for c in GOLDEN_STAGE_COLUMNS),
    sa.Column("entity_source", sa.String),
    sa.Column("entity_source_id", sa.String),
    sa.Column("created_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime),
)


_EMAIL_AT = [c.name for c in GOLDEN_STAGE_COLUMNS].index("email")


@dataclass(slots=True)
class BatchTarget:
    """Which run and source a batch belongs to."""

    run_id: str
    source: str
    entity_source: str
    priority: int
    # The source rows (pks) this run skipped as unchanged without a `sync_seen` row: a run
    # read top to bottom by one process keeps them here (None: every id read is in `sync_seen`).
    read_pks: PkSet | None = None
    # Whether `sync_seen` may hold rows of this run: False only while a run that keeps its
    # skipped rows in memory has loaded none, so its lookups need not join `sync_seen`.
    seen_rows: bool = True


@dataclass(slots=True)
class BatchResult:
    """Per-outcome counts of one batch, the conflicts found, and its warnings."""

    counts: Counter[str] = field(default_factory=Counter)
    conflicts: list[Issue] = field(default_factory=list)
    # Records the loader itself had to refuse (e.g. an order for an unknown customer).
    rejects: list[Issue] = field(default_factory=list)


def _existing(conn: sa.Connection, target: BatchTarget, ids: list[str]) -> dict[str, Any]:
    """Per source id: its stored source row, else the stamp of a delete that came first
    (`tombstone`), and whether this run has read it (`seen`, `seen_line`).

    One statement per chunk of ids: their source rows and their tombstones, each joined to this
    run's `sync_seen` row. Every id a run has read left a source row or a tombstone (a draft is
    written, kept as a tombstone, or loses to a stored row or tombstone), so only the ids found
    are looked up in `sync_seen`: on a first import, nearly none.
    """
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    tomb = SourceTombstone.__table__  # type: ignore[attr-defined]
    found: dict[str, Any] = {}
    tombstones: dict[str, Any] = {}
    for i in range(0, len(ids), 5000):
        chunk = ids[i : i + 5000]
        rows = (
            sa.select(
                sa.literal(True).label("stored"),
                cs.c.source_id,
                cs.c.pk,
                cs.c.customer_pk,
                cs.c.content_hash,
                cs.c.raw_hash,
                cs.c.modstamp,
                cs.c.deleted,
            )
            .where(cs.c.source == target.source)
            .where(one_of(conn, cs.c.source_id, chunk))
        )
        deletes = (
            sa.select(
                sa.literal(False),
                tomb.c.source_id,
                sa.null(),
                sa.null(),
                sa.null(),
                sa.null(),
                tomb.c.modstamp,
                sa.null(),
            )
            .where(tomb.c.source == target.source)
            .where(one_of(conn, tomb.c.source_id, chunk))
        )
        for (
            stored,
            sid,
            pk,
            customer_pk,
            content_hash,
            raw_hash,
            modstamp,
            deleted,
            seen_line,
        ) in conn.execute(
            sa.union_all(_with_seen_line(target, rows, cs), _with_seen_line(target, deletes, tomb))
        ):
            if stored:
                ex = found[sid] = {
                    "source_id": sid,
                    "pk": pk,
                    "customer_pk": customer_pk,
                    "content_hash": content_hash,
                    "raw_hash": raw_hash,
                    "modstamp": modstamp,
                    "deleted": deleted,
                }
            else:
                ex = tombstones[sid] = {"tombstone": modstamp}
            if seen_line is not None:
                ex.update(seen=True, seen_line=None if seen_line == _NO_LINE else seen_line)
    # A tombstone counts only for an id without a source row (a revived id's is dropped).
    for sid, ex in tombstones.items():
        found.setdefault(sid, ex)
    if target.read_pks:
        # Skipped earlier in a run read in file order: any line after it is later.
        for ex in found.values():
            if ex.get("pk") in target.read_pks and not ex.get("seen"):
                ex.update(seen=True, seen_line=None)
    return found


# The line of a `sync_seen` row that has none (a record read from an API, not a file).
_NO_LINE = -1


def _with_seen_line(target: BatchTarget, query: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    """`query` on `table` with one more column: the line at which this run read the row's source
    id (its `sync_seen` row), `_NO_LINE` if read without one, NULL if not read.

    Looked up row by row in the primary key of `sync_seen` (`_seen_by_run`), not joined.
    """
    seen = SyncSeen.__table__  # type: ignore[attr-defined]
    if not target.seen_rows:
        # No row of this run in `sync_seen` yet: nothing to look up.
        return query.add_columns(sa.type_coerce(sa.null(), sa.Integer))
    line = sa.func.coalesce(seen.c.line, _NO_LINE)
    return query.add_columns(sa.select(line).where(_seen_by_run(target, table)).scalar_subquery())


def _seen_by_run(target: BatchTarget, rows: Any) -> sa.ColumnElement[bool]:
    """The `sync_seen` row of this run for the source id of each of `rows` (correlated).

    A probe of its primary key per row, never a join: joined, PostgreSQL plans from statistics
    that may not know this run (gathered before it began, over the rows a crashed run left
    behind) and expects one row of it, so it scans all the run's rows once per row looked up.
    Measured on a store a killed run had left 135,000 such rows in: 155 s for one batch's
    lookup of 5,000 ids joined, 0.2 s probed.
    """
    seen = SyncSeen.__table__  # type: ignore[attr-defined]
    return sa.and_(seen.c.run_id == target.run_id, seen.c.source_id == rows.c.source_id)


def _classify(draft: Draft, digest: str, existing: dict[str, Any] | None) -> tuple[str, bool]:
    """The record's outcome, and whether its source row must be written."""
    if existing is None or "customer_pk" not in existing:
        if draft.deleted:
            return RecordOutcome.UNCHANGED, False  # kept as a tombstone, see _keep_tombstones
        deleted_at = (existing or {}).get("tombstone")
        if draft.modstamp and deleted_at and draft.modstamp <= deleted_at:
            return RecordOutcome.UNCHANGED, False  # the source deleted it after this version
        return RecordOutcome.CREATED, True
    stored = existing["modstamp"]
    if draft.modstamp and stored and draft.modstamp < stored:
        return RecordOutcome.UNCHANGED, False  # stale: the source already told us something newer
    if draft.deleted:
        return (RecordOutcome.UNCHANGED, False) if existing["deleted"] else (RecordOutcome.DELETED, True)
    if existing["deleted"] or digest != existing["content_hash"]:
        return RecordOutcome.UPDATED, True
    newer = draft.modstamp is not None and (stored is None or draft.modstamp > stored)
    return RecordOutcome.UNCHANGED, newer


def _holds_exactly(existing: dict[str, Any], draft: Draft, digest: str) -> bool:
    """Whether the stored source row is exactly what `draft` would write (not a stale replay)."""
    return (
        "customer_pk" in existing
        and existing["raw_hash"] != draft.raw_hash
        and existing["deleted"] == draft.deleted
        and existing["modstamp"] == draft.modstamp
        and existing["content_hash"] == digest
    )


def _resolve_identities(
    conn: sa.Connection, target: BatchTarget, new: list[Draft]
) -> tuple[dict[str, int], set[int], set[str]]:
    """Customer pk for each new source id: by loyalty id, then e-mail, else a new customer.

    Also returns the customers created from exactly one record (they are inserted with their
    golden record already computed, so they need no recompute), and the source ids that
    created a customer (the others joined one: an existing one, or one an earlier record of
    this batch created).
    """
    cust = Customer.__table__  # type: ignore[attr-defined]
    by_loyalty = {d.fields["loyalty_id"] for d in new if d.fields.get("loyalty_id")}
    by_email = {d.fields["email"] for d in new if d.fields.get("email")}
    loyalty_pk: dict[str, int] = (
        dict(
            conn.execute(
                sa.select(cust.c.loyalty_id, cust.c.pk).where(
                    one_of(conn, cust.c.loyalty_id, by_loyalty), ~unverified_sign_up()
                )
            ).all()
        )
        if by_loyalty
        else {}
    )
    # An address an unverified sign-up holds is somebody else's until proven: the import gets
    # (or keeps) a customer of its own, without the e-mail, which stays on its source row.
    email_pk, held = customers_for_emails(conn, by_email)

    resolved: dict[str, int] = {}
    to_create: dict[str, tuple[Any, ...]] = {}  # loyalty id -> new customer row (`_stage_new_customer`'s)
    pending: dict[str, str] = {}  # source id -> loyalty id of the customer to create
    email_new: dict[str, str] = {}  # e-mail -> loyalty id, so one batch makes one customer
    shared: set[str] = set()  # loyalty ids of new customers that more than one record names
    creators: set[str] = set()
    fresh_ids = iter(new_loyalty_ids(len(new)))  # at most one per record
    now = utcnow()
    for d in new:
        lid, email = d.fields.get("loyalty_id"), d.fields.get("email")
        if lid and lid in loyalty_pk:
            resolved[d.source_id] = loyalty_pk[lid]
        elif email and email in email_pk:
            resolved[d.source_id] = email_pk[email]
        elif email and email in email_new:
            pending[d.source_id] = email_new[email]
            shared.add(email_new[email])
        else:
            lid = lid if lid and lid not in to_create else next(fresh_ids)
            golden = golden_row_of_one(d.fields, d.extra_info)
            if email in held:
                golden[_EMAIL_AT] = None
                shared.add(lid)  # recomputed after the load, which reports the held address
            to_create[lid] = (lid, *golden, target.entity_source, d.source_id, now, now)
            pending[d.source_id] = lid
            creators.add(d.source_id)
            if email:
                email_new[email] = lid
    if to_create:
        created = _insert_customers(conn, list(to_create.values()))
        resolved.update({sid: created[lid] for sid, lid in pending.items()})
        fresh = {pk for lid, pk in created.items() if lid not in shared}
        return resolved, fresh, creators
    return resolved, set(), creators


# A new customer as `_insert_customers` copies it into `customer` on PostgreSQL: its pk, then
# `_stage_new_customer`'s columns (a layout only, never created).
_new_customer_rows = sa.Table(
    "customer_rows",
    sa.MetaData(),
    sa.Column("pk", sa.Integer),
    *(sa.Column(c.name, c.type) for c in _stage_new_customer.columns),
)


def _insert_customers(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """Insert new customers (rows in `_stage_new_customer`'s column order); loyalty id -> pk.

    On PostgreSQL their pks are drawn from the table's sequence first and the rows copied
    straight into `customer`: two round trips, the rows written once. Elsewhere through a
    staging table and `INSERT … SELECT … RETURNING`.
    """
    cust = Customer.__table__  # type: ignore[attr-defined]
    if conn.dialect.name == "postgresql":
        pks = conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence('customer', 'pk')) FROM generate_series(1, :n)"),
            {"n": len(rows)},
        ).scalars()
        numbered = [(pk, *row) for pk, row in zip(pks, rows, strict=True)]
        copy_into(conn, _new_customer_rows, numbered, into=cust)
        return {row[1]: row[0] for row in numbered}
    stage_values(conn, _stage_new_customer, rows)
    s = _stage_new_customer
    cols = [c.name for c in s.columns]
    created: dict[str, int] = dict(
        conn.execute(
            cust.insert()
            .from_select(cols, sa.select(*[s.c[c] for c in cols]))
            .returning(cust.c.loyalty_id, cust.c.pk)
        ).all()
    )
    drop(conn, s)
    return created


def load_customer_batch(conn: sa.Connection, target: BatchTarget, drafts: list[Draft]) -> BatchResult:
    """Write one batch of customer drafts: source rows, new customers, golden records."""
    result = BatchResult()
    latest: dict[str, Draft] = {}
    for d in drafts:
        # An id read again is taken in at its last line, whichever line wins: the order the
        # pipeline applies it in when its lines fall in several batches (`Superseded`), which
        # decides who joins whom by e-mail among the new ids of a batch.
        earlier = latest.pop(d.source_id, None)
        if earlier is not None:
            result.counts[RecordOutcome.DUPLICATE] += 1
            if not supersedes(d, earlier):
                d = earlier
        latest[d.source_id] = d
    existing = _existing(conn, target, list(latest))

    writes: list[Draft] = []
    new: list[Draft] = []
    rehash: dict[str, str] = {}  # source id -> raw hash, for rows mapped unchanged but not written
    counted_created: set[str] = set()
    # Each draft's content hash, once (JSON and sha256: among the costliest steps per row).
    digests = {sid: d.content_hash() for sid, d in latest.items()}
    for sid, d in latest.items():
        ex = existing.get(sid)
        outcome, write = _classify(d, digests[sid], ex)
        if ex and ex.get("seen"):
            outcome = RecordOutcome.DUPLICATE  # seen earlier in this run: counted there
            if _later_line_won(d.position, ex.get("seen_line")) and not _newer_than_stored(d, ex):
                # Chunks and pages load in any order; what a sequential read leaves must win:
                # the newer stamp, and between equal stamps the later line (or page).
                write = False
        result.counts[outcome] += 1
        if not write and d.raw_hash and ex and _holds_exactly(ex, d, digests[sid]):
            # Same content from another raw row (first import since hashes were kept, a column
            # reordered): remember the row, so the next import skips it before mapping.
            rehash[sid] = d.raw_hash
        if outcome == RecordOutcome.CREATED:
            counted_created.add(sid)
        if write:
            (new if outcome == RecordOutcome.CREATED or (ex and "customer_pk" not in ex) else writes).append(
                d
            )

    # A delete of a record the store has not seen must outlive it: its older copy may come later.
    _keep_tombstones(
        conn,
        target,
        [d for sid, d in latest.items() if d.deleted and "customer_pk" not in existing.get(sid, {})],
    )
    _forget_tombstones(
        conn, target, [d.source_id for d in new if "tombstone" in existing.get(d.source_id, {})]
    )

    customer_of = {sid: ex["customer_pk"] for sid, ex in existing.items() if "customer_pk" in ex}
    resolved, fresh, creators = _resolve_identities(conn, target, new)
    customer_of.update(resolved)
    # `created` counts customers: a new source id that joined a customer by e-mail is counted
    # below as updated or unchanged, by whether its customer changed.
    joined = counted_created - creators
    result.counts[RecordOutcome.CREATED] -= len(joined)

    now = utcnow()
    source, entity_source, priority = target.source, target.entity_source, target.priority
    # In `_stage_source`'s column order; the payload goes as the JSON its hash was taken of.
    rows = [
        (
            source,
            d.source_id,
            entity_source,
            customer_of[d.source_id],
            priority,
            d.modstamp,
            digest,
            d.raw_hash,
            JsonText(payload),
            d.deleted,
            now if d.deleted else None,
            now,
            now,
        )
        for d in (*new, *writes)
        for payload, digest in (d.encode(),)
    ]
    if rows:
        _write_source_rows(conn, rows, len(new))
    if rehash:
        _store_raw_hashes(conn, target, rehash)
    if latest:
        target.seen_rows = True  # before the write: a batch rolled back leaves it on, which is safe
        mark_seen(conn, target.run_id, [(sid, d.position) for sid, d in latest.items()])
    recomputed = recompute_customers(conn, {r[3] for r in rows} - fresh)
    for sid in joined:
        changed = customer_of[sid] in recomputed.changed_pks
        result.counts[RecordOutcome.UPDATED if changed else RecordOutcome.UNCHANGED] += 1
    if recomputed.conflicts:
        written = [*new, *writes]
        result.conflicts = _email_conflicts(conn, target, recomputed.conflicts, written, customer_of)
    return result


def _email_conflicts(
    conn: sa.Connection,
    target: BatchTarget,
    conflicts: list[tuple[int, str, int]],
    written: list[Draft],
    customer_of: dict[str, int],
) -> list[Issue]:
    """A warning for each e-mail a customer of this batch was not given, naming records, not pks.

    An operator looks records up by entitySource and entitySourceId (and a file by its line);
    customer pks are the store's own and say nothing outside it.
    """
    cust = Customer.__table__  # type: ignore[attr-defined]
    holders = {
        pk: f"{source} {source_id}" if source_id else "a customer without a source record"
        for pk, source, source_id in conn.execute(
            sa.select(cust.c.pk, cust.c.entity_source, cust.c.entity_source_id).where(
                one_of(conn, cust.c.pk, sorted({holder for _, _, holder in conflicts}))
            )
        )
    }
    by_customer: dict[int, list[Draft]] = {}
    for d in written:
        by_customer.setdefault(customer_of[d.source_id], []).append(d)
    issues = []
    for pk, email, holder in conflicts:
        # The record of this batch that sent the address; else the e-mail came from another of
        # the customer's sources, and the record this batch wrote for it stands for them.
        mine = by_customer[pk]
        record = next((d for d in mine if d.fields.get("email") == email), mine[0])
        line = f" (line {record.position})" if record.position is not None else ""
        issues.append(
            Issue(
                "email_conflict",
                f"{target.entity_source} {record.source_id}{line}: its customer was not given e-mail "
                f"{email}, which {holders[holder]} holds; kept on the source row",
                record.position,
                record.source_id,
                "email",
            )
        )
    return issues


def _write_source_rows(conn: sa.Connection, rows: list[tuple[Any, ...]], fresh: int = 0) -> None:
    """Write source rows (in `_stage_source`'s column order); the first `fresh` are of ids
    without a source row.

    On PostgreSQL those are copied straight into `customer_source` (a first import writes each
    row once, with no staging table); should another run have stored one of them meanwhile, the
    key is taken and the batch is retried, finding it. The rest are upserted from `staged_rows`
    (a staging table, or for a few rows on PostgreSQL arrays in the upsert itself).
    """
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    if conn.dialect.name == "postgresql" and fresh:
        copy_into(conn, _stage_source, rows[:fresh], into=cs)
        rows = rows[fresh:]
        if not rows:
            return
    s = staged_rows(conn, _stage_source, rows)
    cols = [c.name for c in _stage_source.columns]

    def on_conflict(excluded: Any) -> dict[str, Any]:
        # A tombstone keeps the last payload it had, so the customer keeps its fields.
        return {
            "modstamp": excluded.modstamp,
            "priority": excluded.priority,
            "content_hash": sa.case((excluded.deleted, cs.c.content_hash), else_=excluded.content_hash),
            "raw_hash": excluded.raw_hash,
            "payload": sa.case((excluded.deleted, cs.c.payload), else_=excluded.payload),
            "deleted": excluded.deleted,
            "deleted_at": sa.case(
                (excluded.deleted, sa.func.coalesce(cs.c.deleted_at, excluded.deleted_at)),
                else_=None,
            ),
            "updated_at": excluded.updated_at,
        }

    upsert_from(conn, cs, sa.select(*[s.c[c] for c in cols]), cols, ["source", "source_id"], on_conflict)
    drop(conn, _stage_source)


def supersedes(later: Draft, earlier: Draft) -> bool:
    """Whether `later`, read after `earlier` with the same source id, wins: as a sequential
    read decides it across batches, the newer stamp, and between equal stamps the later read."""
    if later.modstamp is not None and earlier.modstamp is not None:
        return later.modstamp >= earlier.modstamp
    return True


def _newer_than_stored(d: Draft, existing: dict[str, Any]) -> bool:
    stored = existing.get("modstamp")
    return d.modstamp is not None and stored is not None and d.modstamp > stored


def _keep_tombstones(conn: sa.Connection, target: BatchTarget, deletes: list[Draft]) -> None:
    """Store deletes of source ids without a source row; a stored one keeps the newest stamp."""
    if not deletes:
        return
    tomb = SourceTombstone.__table__  # type: ignore[attr-defined]
    s = _stage_tombstone
    now = utcnow()
    stage(
        conn,
        s,
        (
            {
                "source": target.source,
                "source_id": d.source_id,
                "entity_source": target.entity_source,
                "modstamp": d.modstamp,
                "deleted_at": now,
            }
            for d in deletes
        ),
    )
    cols = [c.name for c in s.columns]

    def newest(excluded: Any) -> dict[str, Any]:
        newer = sa.or_(tomb.c.modstamp.is_(None), excluded.modstamp > tomb.c.modstamp)
        return {"modstamp": sa.case((newer, excluded.modstamp), else_=tomb.c.modstamp)}

    upsert_from(conn, tomb, sa.select(*[s.c[c] for c in cols]), cols, ["source", "source_id"], newest)
    drop(conn, s)


def _forget_tombstones(conn: sa.Connection, target: BatchTarget, source_ids: list[str]) -> None:
    """Drop the tombstones of records a newer version revived (they now have a source row)."""
    tomb = SourceTombstone.__table__  # type: ignore[attr-defined]
    for i in range(0, len(source_ids), 5000):
        conn.execute(
            tomb.delete()
            .where(tomb.c.source == target.source)
            .where(tomb.c.source_id.in_(source_ids[i : i + 5000]))
        )


def _later_line_won(line: int | None, seen_line: int | None) -> bool:
    return line is not None and seen_line is not None and seen_line > line


_stage_seen = temp_table(
    "stage_seen", sa.Column("source_id", sa.String, primary_key=True), sa.Column("line", sa.Integer)
)


def mark_seen(conn: sa.Connection, run_id: str, seen_lines: list[tuple[str, int | None]]) -> None:
    """Record that this run has read these source ids, at these lines (the last line is kept).

    The ids are distinct. On PostgreSQL one statement: the ids and lines go as two arrays,
    unnested by the server, with no staging table to create, fill and drop per batch.
    """
    if not seen_lines:
        return
    seen = SyncSeen.__table__  # type: ignore[attr-defined]
    if conn.dialect.name == "postgresql":
        ids, lines = zip(*seen_lines, strict=True)
        rows: sa.Select[Any] = sa.select(
            sa.literal(run_id).label("run_id"),
            sa.func.unnest(sa.bindparam(None, list(ids), type_=postgresql.ARRAY(sa.String))).label(
                "source_id"
            ),
            sa.func.unnest(sa.bindparam(None, list(lines), type_=postgresql.ARRAY(sa.Integer))).label("line"),
        )
    else:
        s = _stage_seen
        stage_values(conn, s, seen_lines)
        rows = sa.select(sa.literal(run_id).label("run_id"), s.c.source_id, s.c.line)

    def keep_last(excluded: Any) -> dict[str, Any]:
        later = sa.or_(seen.c.line.is_(None), excluded.line > seen.c.line)
        return {"line": sa.case((later, excluded.line), else_=seen.c.line)}

    upsert_from(conn, seen, rows, ["run_id", "source_id", "line"], ["run_id", "source_id"], keep_last)
    if conn.dialect.name != "postgresql":
        drop(conn, _stage_seen)


_stage_raw_hash = temp_table(
    "stage_raw_hash",
    sa.Column("source_id", sa.String, primary_key=True),
    sa.Column("raw_hash", sa.String),
)


def _store_raw_hashes(conn: sa.Connection, target: BatchTarget, hashes: dict[str, str]) -> None:
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    s = _stage_raw_hash
    stage(conn, s, ({"source_id": sid, "raw_hash": h} for sid, h in hashes.items()))
    conn.execute(
        sa.update(cs)
        .where(cs.c.source == target.source, cs.c.source_id.in_(sa.select(s.c.source_id)))
        .values(raw_hash=sa.select(s.c.raw_hash).where(s.c.source_id == cs.c.source_id).scalar_subquery())
    )
    drop(conn, s)


def _known(target: BatchTarget, rows: Any) -> sa.Select[Any]:
    """`rows` (customer_source or a part of it) of `target.source`: raw hash, id, whether this
    run read it, pk.

    Whether read is one EXISTS per row (`_seen_by_run`), which PostgreSQL answers from one hash
    of the run's `sync_seen` rows or a probe per row, never from a join it may misjudge.
    """
    if not target.seen_rows:
        # No row of this run in `sync_seen`: no probe of it per row read.
        return sa.select(rows.c.raw_hash, rows.c.source_id, sa.false(), rows.c.pk).where(
            rows.c.source == target.source
        )
    return sa.select(
        rows.c.raw_hash, rows.c.source_id, sa.exists().where(_seen_by_run(target, rows)), rows.c.pk
    ).where(rows.c.source == target.source)


def find_unchanged(conn: sa.Connection, target: BatchTarget, raw_hashes: Iterable[str]) -> StoredRows:
    """The stored rows of `target.source` whose raw hash is one of `raw_hashes`, set-wise.

    Each found hash gives its row's pk, the pk its source id, and whether this run has read
    that id already.
    """
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    wanted = sorted(set(raw_hashes))
    found = StoredRows()
    for i in range(0, len(wanted), 5000):
        result = conn.execute(_known(target, cs).where(one_of(conn, cs.c.raw_hash, wanted[i : i + 5000])))
        found.update(StoredRows.of(result.cursor.fetchall()))
        result.close()
    return found


def stored_after(conn: sa.Connection, target: BatchTarget, after: int, span: int) -> StoredRows:
    """The rows of `target.source` with pk in (`after`, `after + span`], by their raw hashes.

    A file re-imported mostly lists its rows in the order they were first stored: read this
    way, a batch's rows are found by one range scan of the primary key instead of one index
    probe per hash. The range is read alone (OFFSET 0 keeps the source's condition out of
    it), so the plan is that scan however stale the table's statistics are.
    """
    cs = CustomerSource.__table__  # type: ignore[attr-defined]
    part = (
        sa.select(cs.c.pk, cs.c.raw_hash, cs.c.source_id, cs.c.source)
        .where(cs.c.pk > after, cs.c.pk <= after + span)
        .offset(0)
        .subquery()
    )
    # The driver's tuples as they are: a batch reads some 6,000 rows this way, and building a
    # Row (or any object) of each cost more than the read.
    result = conn.execute(_known(target, part))
    rows = result.cursor.fetchall()
    result.close()
    return StoredRows.of(rows)


@dataclass(slots=True)
class StoredRows:
    """Stored source rows found by their raw hashes: `pks` raw hash -> pk, `ids` pk -> source
    id, `seen` the pks whose source id this run has read already (`sync_seen`).

    Plain dicts and a set, built from the driver's rows in C: a batch reads thousands of rows
    and finds most of them, so an object per row cost more than the read itself.
    """

    pks: dict[str, int] = field(default_factory=dict)
    ids: dict[int, str] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, rows: Sequence[tuple[str | None, str, bool, int]]) -> StoredRows:
        """From rows of `_known`: (raw hash, source id, read by this run, pk)."""
        if not rows:
            return cls()
        hashes, ids, seen, pks = zip(*rows, strict=True)
        by_hash = dict(zip(hashes, pks, strict=True))
        by_hash.pop(None, None)  # a row stored without a raw hash is found by none
        return cls(by_hash, dict(zip(pks, ids, strict=True)), set(compress(pks, seen)))

    def update(self, other: StoredRows) -> None:
        self.pks.update(other.pks)
        self.ids.update(other.ids)
        self.seen.update(other.seen)

    def among(self, raw_hashes: set[str]) -> StoredRows:
        """Those of these rows whose raw hash is one of `raw_hashes`."""
        found = self.pks.keys() & raw_hashes
        return StoredRows(
            dict(zip(found, map(self.pks.__getitem__, found), strict=True)), self.ids, self.seen
        )
