"""Reading customers back as the documented customer object (camelCase field names)."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models import Customer, PointsLedger

# Store column -> documented field name, in the seed's table order.
DOCUMENTED_FIELDS: dict[str, str] = {
    "last_login": "lastLogin",
    "extra_info": "extraInfo",
    "deleted_at": "deletedAt",
    "user_type": "userType",
    "email": "email",
    "firstname": "firstname",
    "lastname": "lastname",
    "phone_number": "phoneNumber",
    "birthday": "birthday",
    "gender": "gender",
    "country": "country",
    "city": "city",
    "street": "street",
    "zip_code": "zipCode",
    "picture": "picture",
    "merchant_type": "merchantType",
    "creator_pk": "creator",
    "logo": "logo",
    "num_of_order_discounts_allowed": "numOfOrderDiscountsAllowed",
    "loyalty_id": "loyaltyId",
    "entity_source": "entitySource",
    "entity_source_id": "entitySourceId",
    "active": "active",
    "staff": "staff",
    "admin": "admin",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "archived": "archived",
    "verified": "verified",
    "secondary_email": "secondaryEmail",
    "address": "address",
}


def global_id(pk: int) -> str:
    """The Relay id the API serves: base64 of `IUserNode:<pk>`."""
    return base64.b64encode(f"IUserNode:{pk}".encode()).decode()


def _json_safe(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def find_customer(
    engine: Engine, *, email: str | None = None, loyalty_id: str | None = None, pk: int | None = None
) -> dict[str, Any] | None:
    """One customer as documented, found by e-mail (case-blind), loyalty id or pk."""
    cust = Customer.__table__  # type: ignore[attr-defined]
    ledger = PointsLedger.__table__  # type: ignore[attr-defined]
    query = sa.select(cust)
    if email is not None:
        query = query.where(cust.c.email == email.strip().lower())
    elif loyalty_id is not None:
        query = query.where(cust.c.loyalty_id == loyalty_id.strip())
    elif pk is not None:
        query = query.where(cust.c.pk == pk)
    else:
        raise ValueError("give an e-mail, a loyalty id or a pk")
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
        if row is None:
            return None
        earned = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(ledger.c.delta), 0)).where(
                ledger.c.customer_pk == row["pk"], ledger.c.delta > 0
            )
        ).scalar_one()
    doc: dict[str, Any] = {"id": global_id(row["pk"]), "pk": row["pk"]}
    doc.update({name: _json_safe(row[col]) for col, name in DOCUMENTED_FIELDS.items()})
    doc["pointsEarned"] = int(earned)
    return doc
