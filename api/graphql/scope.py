"""What a viewer may see, as SQL conditions: every resolver and loader reads through these."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from api.auth import Viewer
from models import Customer, Order, Promotion, Redemption, Store

_customer: sa.Table = Customer.__table__  # type: ignore[attr-defined]
_order: sa.Table = Order.__table__  # type: ignore[attr-defined]
_promotion: sa.Table = Promotion.__table__  # type: ignore[attr-defined]
_redemption: sa.Table = Redemption.__table__  # type: ignore[attr-defined]
_store: sa.Table = Store.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Scope:
    """The rows of each kind a viewer may read.

    - staff and admins: everything;
    - an approved merchant: itself, the customers it created, and those with an order or a
      redemption in one of its stores; only its stores' orders, promotions and redemptions;
    - a merchant no operator approved yet, and a consumer: itself; a consumer also its own
      orders and redemptions, and the promotions offered to it.
    """

    viewer: Viewer

    def _my_stores(self) -> sa.Select[tuple[int]]:
        return sa.select(_store.c.pk).where(_store.c.merchant_pk == self.viewer.pk)

    def _my_promotions(self) -> sa.Select[tuple[int]]:
        return sa.select(_promotion.c.pk).where(_promotion.c.store_pk.in_(self._my_stores()))

    @property
    def _store_reader(self) -> bool:
        return self.viewer.is_merchant and self.viewer.approved_merchant

    def customers(self) -> sa.ColumnElement[bool]:
        """Condition on `customer` rows."""
        if self.viewer.sees_everyone:
            return sa.true()
        me = _customer.c.pk == self.viewer.pk
        if not self._store_reader:
            return me
        return sa.or_(
            me,
            _customer.c.creator_pk == self.viewer.pk,
            _customer.c.pk.in_(
                sa.select(_order.c.customer_pk).where(_order.c.store_pk.in_(self._my_stores()))
            ),
            _customer.c.pk.in_(
                sa.select(_redemption.c.customer_pk).where(
                    _redemption.c.promotion_pk.in_(self._my_promotions())
                )
            ),
        )

    def orders(self) -> sa.ColumnElement[bool]:
        """Condition on `customer_order` rows."""
        if self.viewer.sees_everyone:
            return sa.true()
        if self.viewer.is_merchant:
            return _order.c.store_pk.in_(self._my_stores()) if self._store_reader else sa.false()
        return _order.c.customer_pk == self.viewer.pk

    def redemptions(self) -> sa.ColumnElement[bool]:
        """Condition on `redemption` rows."""
        if self.viewer.sees_everyone:
            return sa.true()
        if self.viewer.is_merchant:
            return _redemption.c.promotion_pk.in_(self._my_promotions()) if self._store_reader else sa.false()
        return _redemption.c.customer_pk == self.viewer.pk

    def promotions(self) -> sa.ColumnElement[bool]:
        """Condition on `promotion` rows (which of them may be offered, not whom to)."""
        if self.viewer.is_merchant:
            return _promotion.c.store_pk.in_(self._my_stores()) if self._store_reader else sa.false()
        return sa.true()


def visible_customer(conn: sa.Connection, scope: Scope, pk: int) -> bool:
    """Whether the viewer may see customer `pk` (a missing one is simply not visible)."""
    found = conn.execute(sa.select(_customer.c.pk).where(_customer.c.pk == pk, scope.customers())).first()
    return found is not None
