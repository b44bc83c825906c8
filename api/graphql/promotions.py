"""Which promotions a customer can have now: store, dates, audience, points and a per-customer limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from api.graphql.scope import Scope
from models import Customer, Order, PointsLedger, Promotion, Redemption, Store

_customer = Customer.__table__  # type: ignore[attr-defined]
_order = Order.__table__  # type: ignore[attr-defined]
_ledger = PointsLedger.__table__  # type: ignore[attr-defined]
_promotion = Promotion.__table__  # type: ignore[attr-defined]
_redemption = Redemption.__table__  # type: ignore[attr-defined]
_store = Store.__table__  # type: ignore[attr-defined]


def _customer_tags(extra_info: Any) -> set[str]:
    # Tags are free-form on the customer (`extraInfo.tags`), matched case-insensitively.
    tags = extra_info.get("tags") if isinstance(extra_info, dict) else None
    if not isinstance(tags, list):
        return set()
    return {str(tag).strip().lower() for tag in tags if str(tag).strip()}


def available_promotions(
    conn: sa.Connection, scope: Scope, customer_pk: int, store_pk: int | None, now: datetime
) -> list[sa.Row[Any]]:
    """The live promotions whose rules admit this customer at `now`, oldest promotion first.

    Rules: active; for the given store (promotions without a store run in every store);
    started and not ended; the audience (everyone, new customers = no order yet, birthday
    month, minimum points, tags); `min_points` against the points balance (earned minus
    spent); fewer redemptions of it by this customer than its per-customer limit.
    """
    # A customer the viewer may not see has no promotions, as if it did not exist.
    customer = conn.execute(
        sa.select(_customer.c.birthday, _customer.c.extra_info, _customer.c.active).where(
            _customer.c.pk == customer_pk, scope.customers()
        )
    ).first()
    if customer is None or not customer.active:
        return []
    balance = int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(_ledger.c.delta), 0)).where(
                _ledger.c.customer_pk == customer_pk
            )
        ).scalar_one()
    )
    has_ordered = (
        conn.execute(sa.select(_order.c.pk).where(_order.c.customer_pk == customer_pk).limit(1)).first()
        is not None
    )
    used: dict[int, int] = dict(
        conn.execute(
            sa.select(_redemption.c.promotion_pk, sa.func.count())
            .where(_redemption.c.customer_pk == customer_pk, _redemption.c.promotion_pk.is_not(None))
            .group_by(_redemption.c.promotion_pk)
        ).all()
    )
    where = [
        scope.promotions(),
        _promotion.c.active.is_(True),
        sa.or_(_promotion.c.starts_at.is_(None), _promotion.c.starts_at <= now),
        sa.or_(_promotion.c.ends_at.is_(None), _promotion.c.ends_at > now),
    ]
    if store_pk is not None:
        where.append(sa.or_(_promotion.c.store_pk.is_(None), _promotion.c.store_pk == store_pk))
    candidates = conn.execute(
        sa.select(_promotion, _store.c.name.label("store_name"))
        .select_from(_promotion.outerjoin(_store, _store.c.pk == _promotion.c.store_pk))
        .where(*where)
        .order_by(_promotion.c.pk)
    ).all()
    tags = _customer_tags(customer.extra_info)
    birthday_month = customer.birthday.month if customer.birthday else None

    def admits(p: sa.Row[Any]) -> bool:
        if p.min_points is not None and balance < p.min_points:
            return False
        if p.per_customer_limit is not None and used.get(p.pk, 0) >= p.per_customer_limit:
            return False
        audience = p.audience
        if audience == "NEW_CUSTOMERS":
            return not has_ordered
        if audience == "BIRTHDAY_MONTH":
            return birthday_month == now.month
        if audience == "TAGS":
            wanted = {str(t).strip().lower() for t in (p.tags or [])}
            return bool(wanted & tags)
        # EVERYONE, and MIN_POINTS whose threshold was checked above.
        return audience in ("EVERYONE", "MIN_POINTS")

    return [p for p in candidates if admits(p)]
