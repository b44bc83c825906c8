"""Who is asking: the `Authorization` header turned into a viewer, and what a viewer may see."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from graphql import GraphQLError

from api.auth.tokens import TokenError, decode_access_token, family_is_live
from models import Customer, utcnow
from sync.settings import Settings

_customer = Customer.__table__  # type: ignore[attr-defined]

# Every request checks its token with this statement: built once (building it per request cost
# more Python than PostgreSQL spends answering it), the token's values bound at execution.
_VIEWER = sa.select(
    _customer.c.pk,
    _customer.c.user_type,
    _customer.c.staff,
    _customer.c.admin,
    _customer.c.merchant_approved_at,
).where(
    _customer.c.pk == sa.bindparam("pk", type_=_customer.c.pk.type),
    _customer.c.active.is_(True),
    # Logging out (revokeToken) or a detected refresh-token replay ends the session's access
    # tokens too, not only when they expire.
    family_is_live(
        sa.bindparam("family", type_=sa.String()),
        sa.bindparam("pk", type_=_customer.c.pk.type),
        sa.bindparam("now", type_=_customer.c.created_at.type),
    ),
)

# Both spellings are in use: graphql-jwt's `JWT <token>` (the documented one) and OAuth's `Bearer`.
_SCHEMES = ("jwt", "bearer")


@dataclass(frozen=True)
class Viewer:
    """The authenticated customer, reduced to what access decisions need."""

    pk: int
    user_type: str
    staff: bool
    admin: bool
    approved_merchant: bool = False

    @property
    def sees_everyone(self) -> bool:
        """Staff and admins see every customer (what the others see is `api.graphql.scope`'s)."""
        return self.staff or self.admin or self.user_type in ("STAFF", "ADMIN")

    @property
    def is_merchant(self) -> bool:
        return not self.sees_everyone and self.user_type == "MERCHANT"


class NotAuthenticatedError(GraphQLError):
    """Raised where a resolver needs a viewer and the request has none (or a bad token)."""

    def __init__(self, message: str = "Authentication credentials were not provided") -> None:
        super().__init__(message, extensions={"code": "UNAUTHENTICATED"})


def bearer_token(header: str | None) -> str | None:
    """The token in an `Authorization` header, if it uses a scheme this API accepts."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() not in _SCHEMES or not token.strip():
        return None
    return token.strip()


def load_viewer(conn: sa.Connection, settings: Settings, token: str) -> Viewer:
    """The viewer a token stands for; expired, tampered, revoked or orphaned tokens are refused."""
    try:
        claims = decode_access_token(settings, token)
    except TokenError as exc:
        raise NotAuthenticatedError(str(exc)) from None
    params = {"pk": claims.customer_pk, "family": claims.family, "now": utcnow()}
    row = conn.execute(_VIEWER, params).first()
    if row is None:
        raise NotAuthenticatedError("Token has been revoked")
    return Viewer(
        pk=row.pk,
        user_type=row.user_type,
        staff=row.staff,
        admin=row.admin,
        approved_merchant=row.merchant_approved_at is not None,
    )
