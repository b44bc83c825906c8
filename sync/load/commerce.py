"""Loaders for orders, promotions and redemptions: keyed upserts plus the points ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from models import Customer, Order, OrderType, PointsLedger, Promotion, Redemption, Store
from models._types import utcnow
from models.enums import PromotionAudience, RecordOutcome, RedemptionKind
from sync.load.customers import BatchResult, BatchTarget
from sync.load.identity import customers_for_emails, unverified_sign_up
from sync.load.staging import drop, stage, temp_table
from sync.load.upsert import upsert_from
from sync.mapping import Draft, Issue


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


def _latest(drafts: Iterable[Draft], result: BatchResult) -> dict[str, Draft]:
    latest: dict[str, Draft] = {}
    for d in drafts:
        if d.source_id in latest:
            result.counts[RecordOutcome.DUPLICATE] += 1
        latest[d.source_id] = d
    return latest


def _customers(conn: sa.Connection, drafts: Iterable[Draft]) -> tuple[dict[str, int], dict[str, int]]:
    """Customer pks by loyalty id and by e-mail for the references in `drafts`."""
    cust = _table(Customer)
    drafts = list(drafts)
    lids = {d.fields["consumer_loyalty_id"] for d in drafts if d.fields.get("consumer_loyalty_id")}
    emails = {d.fields["consumer_email"] for d in drafts if d.fields.get("consumer_email")}
    by_lid = dict(
        conn.execute(
            sa.select(cust.c.loyalty_id, cust.c.pk).where(cust.c.loyalty_id.in_(lids), ~unverified_sign_up())
        ).all()
    )
    # Never a sign-up whose mailbox is unproven: its address may be a stranger's.
    by_email, _held = customers_for_emails(conn, emails)
    return by_lid, by_email


def _customer_of(d: Draft, by_lid: dict[str, int], by_email: dict[str, int]) -> int | None:
    return by_lid.get(d.fields.get("consumer_loyalty_id") or "") or by_email.get(
        d.fields.get("consumer_email") or ""
    )


def _names_to_pks(conn: sa.Connection, model: Any, names: set[str]) -> dict[str, int]:
    """Pks of stores or order types by name, creating the missing ones set-wise."""
    table = _table(model)
    names.discard("")
    if not names:
        return {}
    s = temp_table(f"stage_{table.name}_names", sa.Column("name", sa.String, primary_key=True))
    stage(conn, s, [{"name": n} for n in sorted(names)])
    upsert_from(conn, table, sa.select(s.c.name), ["name"], ["name"])
    drop(conn, s)
    return dict(conn.execute(sa.select(table.c.name, table.c.pk).where(table.c.name.in_(names))).all())


def _give_stores_their_merchants(
    conn: sa.Connection, drafts: Iterable[Draft], stores: dict[str, int], result: BatchResult
) -> None:
    """A store named with its merchant's e-mail (`storeMerchant`) gets that merchant as owner.

    The import is an operator's act, so it counts as the merchant's approval too. A store that
    already has another owner keeps it (a file never takes a store away), reported as a warning.
    """
    wanted = {
        (d.fields["store"], d.fields["store_merchant"])
        for d in drafts
        if d.fields.get("store") and d.fields.get("store_merchant")
    }
    if not wanted:
        return
    cust, store = _table(Customer), _table(Store)
    merchants = dict(
        conn.execute(
            sa.select(cust.c.email, cust.c.pk).where(
                cust.c.email.in_({email for _, email in wanted}), cust.c.user_type == "MERCHANT"
            )
        ).all()
    )
    owners = dict(
        conn.execute(
            sa.select(store.c.name, store.c.merchant_pk).where(store.c.name.in_({n for n, _ in wanted}))
        ).all()
    )
    now = utcnow()
    for name, email in sorted(wanted):
        merchant = merchants.get(email)
        if merchant is None:
            result.conflicts.append(
                Issue("unknown_merchant", f"store {name!r}: no merchant {email}", field="storeMerchant")
            )
        elif owners.get(name) not in (None, merchant):
            result.conflicts.append(
                Issue(
                    "store_has_a_merchant",
                    f"store {name!r} already belongs to customer {owners[name]}; kept",
                    field="storeMerchant",
                )
            )
        else:
            conn.execute(store.update().where(store.c.pk == stores[name]).values(merchant_pk=merchant))
            conn.execute(
                cust.update()
                .where(cust.c.pk == merchant, cust.c.merchant_approved_at.is_(None))
                .values(merchant_approved_at=now, updated_at=now)
            )
            owners[name] = merchant


def _upsert_keyed(
    conn: sa.Connection,
    model: Any,
    target: BatchTarget,
    rows: dict[str, dict[str, Any]],
    result: BatchResult,
) -> dict[str, int]:
    """Insert or update rows keyed by (source, source id); count outcomes; return their pks."""
    table = _table(model)
    ids = list(rows)
    stored = dict(
        conn.execute(
            sa.select(table.c.source_id, table.c.content_hash).where(
                table.c.source == target.source, table.c.source_id.in_(ids)
            )
        ).all()
    )
    now = utcnow()
    writes = []
    for sid, row in rows.items():
        if sid not in stored:
            result.counts[RecordOutcome.CREATED] += 1
        elif stored[sid] != row["content_hash"]:
            result.counts[RecordOutcome.UPDATED] += 1
        else:
            result.counts[RecordOutcome.UNCHANGED] += 1
            continue
        writes.append(
            {"source": target.source, "source_id": sid, "created_at": now, "updated_at": now, **row}
        )
    if writes:
        cols = [c for c in table.columns if c.name != "pk" and c.name in writes[0]]
        s = temp_table(f"stage_{table.name}", *[sa.Column(c.name, c.type) for c in cols])
        stage(conn, s, writes)
        names = [c.name for c in cols]
        keep = {"source", "source_id", "created_at"}
        upsert_from(
            conn,
            table,
            sa.select(*[s.c[n] for n in names]),
            names,
            ["source", "source_id"],
            lambda ex: {n: ex[n] for n in names if n not in keep},
        )
        drop(conn, s)
    return dict(
        conn.execute(
            sa.select(table.c.source_id, table.c.pk).where(
                table.c.source == target.source, table.c.source_id.in_(ids)
            )
        ).all()
    )


def _book_points(conn: sa.Connection, target: BatchTarget, entries: list[dict[str, Any]]) -> None:
    """Write ledger entries keyed by their cause, so a replay books nothing twice."""
    if not entries:
        return
    ledger = _table(PointsLedger)
    cols = [
        "source",
        "source_id",
        "customer_pk",
        "delta",
        "reason",
        "order_pk",
        "redemption_pk",
        "created_at",
    ]
    s = temp_table("stage_points", *[sa.Column(c, ledger.c[c].type) for c in cols])
    stage(
        conn,
        s,
        [
            {
                "source": target.source,
                "created_at": utcnow(),
                "order_pk": None,
                "redemption_pk": None,
                **e,
            }
            for e in entries
        ],
    )
    upsert_from(
        conn,
        ledger,
        sa.select(*[s.c[c] for c in cols]),
        cols,
        ["source", "source_id"],
        lambda ex: {"delta": ex.delta, "customer_pk": ex.customer_pk},
    )
    drop(conn, s)


def _unknown_customer(d: Draft) -> Issue:
    ref = d.fields.get("consumer_loyalty_id") or d.fields.get("consumer_email") or "(none)"
    return Issue("unknown_customer", f"no customer matches {ref}", d.position, d.source_id)


def load_order_batch(conn: sa.Connection, target: BatchTarget, drafts: list[Draft]) -> BatchResult:
    """Orders, their stores and order types, and the points they earned."""
    result = BatchResult()
    latest = _latest(drafts, result)
    by_lid, by_email = _customers(conn, latest.values())
    stores = _names_to_pks(conn, Store, {d.fields.get("store") or "" for d in latest.values()})
    _give_stores_their_merchants(conn, latest.values(), stores, result)
    types = _names_to_pks(conn, OrderType, {d.fields.get("order_type") or "" for d in latest.values()})
    rows: dict[str, dict[str, Any]] = {}
    points: dict[str, tuple[int, int]] = {}
    for sid, d in latest.items():
        customer_pk = _customer_of(d, by_lid, by_email)
        if customer_pk is None:
            result.rejects.append(_unknown_customer(d))
            continue
        f = d.fields
        completed = f.get("completed_at")
        rows[sid] = {
            "order_id": f.get("order_id") or sid,
            "customer_pk": customer_pk,
            "store_pk": stores.get(f.get("store") or ""),
            "order_type_pk": types.get(f.get("order_type") or ""),
            "completed_at": datetime.fromisoformat(completed) if completed else None,
            "payment_type": f.get("payment_type"),
            "total": Decimal(f.get("total") or "0"),
            "currency": f.get("currency"),
            "extra_info": d.extra_info,
            "content_hash": d.content_hash(),
        }
        if f.get("points"):
            points[sid] = (customer_pk, int(f["points"]))
    pks = _upsert_keyed(conn, Order, target, rows, result) if rows else {}
    _book_points(
        conn,
        target,
        [
            {
                "source_id": f"order:{sid}",
                "customer_pk": c,
                "delta": p,
                "reason": "order",
                "order_pk": pks[sid],
            }
            for sid, (c, p) in points.items()
        ],
    )
    return result


def load_promotion_batch(conn: sa.Connection, target: BatchTarget, drafts: list[Draft]) -> BatchResult:
    """Promotions and the rules that make them available."""
    result = BatchResult()
    latest = _latest(drafts, result)
    stores = _names_to_pks(conn, Store, {d.fields.get("store") or "" for d in latest.values()})
    _give_stores_their_merchants(conn, latest.values(), stores, result)
    rows: dict[str, dict[str, Any]] = {}
    for sid, d in latest.items():
        f = d.fields
        audience = f.get("audience") or PromotionAudience.EVERYONE
        if audience not in PromotionAudience.__members__ or not f.get("name"):
            reason = "invalid_audience" if f.get("name") else "missing_name"
            result.rejects.append(
                Issue(reason, f"promotion {sid}: {reason.replace('_', ' ')}", d.position, sid)
            )
            continue
        rows[sid] = {
            "name": f["name"],
            "description": f.get("description"),
            "store_pk": stores.get(f.get("store") or ""),
            "starts_at": datetime.fromisoformat(f["starts_at"]) if f.get("starts_at") else None,
            "ends_at": datetime.fromisoformat(f["ends_at"]) if f.get("ends_at") else None,
            "audience": audience,
            "min_points": f.get("min_points"),
            "tags": f.get("tags") or [],
            "per_customer_limit": f.get("per_customer_limit"),
            "points_cost": f.get("points_cost") or 0,
            "active": f.get("active", True),
            "content_hash": d.content_hash(),
        }
    if rows:
        _upsert_keyed(conn, Promotion, target, rows, result)
    return result


def load_redemption_batch(conn: sa.Connection, target: BatchTarget, drafts: list[Draft]) -> BatchResult:
    """Redemptions of points or stamps; points redemptions debit the ledger."""
    result = BatchResult()
    latest = _latest(drafts, result)
    by_lid, by_email = _customers(conn, latest.values())
    promo = _table(Promotion)
    promo_ids = {d.fields["promotion_id"] for d in latest.values() if d.fields.get("promotion_id")}
    promotions = dict(
        conn.execute(sa.select(promo.c.source_id, promo.c.pk).where(promo.c.source_id.in_(promo_ids))).all()
    )
    rows: dict[str, dict[str, Any]] = {}
    for sid, d in latest.items():
        customer_pk = _customer_of(d, by_lid, by_email)
        kind = d.fields.get("kind") or RedemptionKind.POINTS
        if customer_pk is None:
            result.rejects.append(_unknown_customer(d))
            continue
        if kind not in RedemptionKind.__members__:
            result.rejects.append(
                Issue(
                    "invalid_kind",
                    f"redemption kind must be POINTS or STAMPS, not {kind}",
                    d.position,
                    sid,
                )
            )
            continue
        created = d.fields.get("created_at")
        rows[sid] = {
            "customer_pk": customer_pk,
            "promotion_pk": promotions.get(d.fields.get("promotion_id") or ""),
            "kind": kind,
            "points": d.fields.get("points") or 0,
            "stamps": d.fields.get("stamps") or 0,
            "content_hash": d.content_hash(),
            **({"created_at": datetime.fromisoformat(created)} if created else {}),
        }
    if not rows:
        return result
    # Rows without their own timestamp get "now"; keep the column set uniform for staging.
    now = utcnow()
    for row in rows.values():
        row.setdefault("created_at", now)
    pks = _upsert_keyed(conn, Redemption, target, rows, result)
    _book_points(
        conn,
        target,
        [
            {
                "source_id": f"redemption:{sid}",
                "customer_pk": r["customer_pk"],
                "delta": -int(r["points"]),
                "reason": "redemption",
                "redemption_pk": pks[sid],
            }
            for sid, r in rows.items()
            if r["kind"] == RedemptionKind.POINTS and r["points"]
        ],
    )
    return result


COMMERCE_LOADERS = {
    "orders": load_order_batch,
    "promotions": load_promotion_batch,
    "redemptions": load_redemption_batch,
}
