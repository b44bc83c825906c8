"""The GraphQL object types: the customer (`IUserNode`), its redemptions, orders, promotions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from api.graphql.context import RequestContext
from api.graphql.enums import (
    UserCountry,
    UserEntitySource,
    UserGender,
    UserMerchantType,
    UserUserType,
    enum_value,
)
from api.graphql.loaders import RedemptionPageKey
from api.graphql.relay import Connection, PageArgs, build_connection, selects, to_global_id
from api.graphql.scalars import JSONString

Ctx = Info[RequestContext, None]


@strawberry.interface(description="An object with a global id.")
class Node:
    id: strawberry.ID


@strawberry.type
class RedemptionNode(Node):
    pk: int
    created_at: datetime
    kind: str
    points: int
    stamps: int

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> RedemptionNode:
        return cls(
            id=strawberry.ID(to_global_id("RedemptionNode", row.pk)),
            pk=row.pk,
            created_at=row.created_at,
            kind=row.kind,
            points=row.points,
            stamps=row.stamps,
        )


@strawberry.type
class StoreNode(Node):
    pk: int
    name: str


@strawberry.type
class OrderTypeNode(Node):
    pk: int
    name: str


# How payment types read to people; anything else is shown title-cased.
_PAYMENT_DISPLAY = {
    "CASH": "Cash",
    "CARD": "Card",
    "CREDIT_CARD": "Credit card",
    "DEBIT_CARD": "Debit card",
    "ONLINE": "Online",
    "WALLET": "Wallet",
    "POINTS": "Points",
    "VOUCHER": "Voucher",
}


def payment_type_display(value: str | None) -> str | None:
    if not value:
        return None
    key = value.strip().upper().replace(" ", "_").replace("-", "_")
    return _PAYMENT_DISPLAY.get(key, value.replace("_", " ").strip().capitalize())


@strawberry.type
class OrderNode(Node):
    pk: int
    order_id: str
    completed_at: datetime | None
    payment_type: str | None
    payment_type_display: str | None
    total: Decimal
    currency: str | None
    order_type: OrderTypeNode | None
    store: StoreNode | None

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> OrderNode:
        return cls(
            id=strawberry.ID(to_global_id("OrderNode", row.pk)),
            pk=row.pk,
            order_id=row.order_id,
            completed_at=row.completed_at,
            payment_type=row.payment_type,
            payment_type_display=payment_type_display(row.payment_type),
            total=row.total,
            currency=row.currency,
            order_type=None
            if row.order_type_pk is None
            else OrderTypeNode(
                id=strawberry.ID(to_global_id("OrderTypeNode", row.order_type_pk)),
                pk=row.order_type_pk,
                name=row.order_type_name,
            ),
            store=None
            if row.store_pk is None
            else StoreNode(
                id=strawberry.ID(to_global_id("StoreNode", row.store_pk)),
                pk=row.store_pk,
                name=row.store_name,
            ),
        )


@strawberry.type
class PromotionNode(Node):
    pk: int
    name: str
    description: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    audience: str
    min_points: int | None
    points_cost: int
    per_customer_limit: int | None
    tags: list[str]
    store: StoreNode | None


PageArg = Annotated[int | None, strawberry.argument(description="Page size, at most 100.")]


async def _redemption_connection(
    info: Ctx,
    customer_pk: int,
    kind: str | None,
    first: int | None,
    last: int | None,
    before: str | None,
    after: str | None,
    offset: int | None,
) -> Connection[RedemptionNode] | None:
    page = PageArgs.parse(first, last, before, after, offset)
    key = RedemptionPageKey(customer_pk, kind, page, selects(info, "count"))
    found = await info.context.loaders.redemptions.load(key)
    nodes = [RedemptionNode.from_row(row) for row in found.rows]
    return build_connection(nodes, found.count, found.start)


@strawberry.type(name="IUserNode", description="A customer of the platform.")
class IUserNode(Node):
    pk: int
    last_login: datetime | None
    extra_info: JSONString | None
    deleted_at: datetime | None
    user_type: UserUserType  # type: ignore[valid-type]
    email: str | None
    firstname: str
    lastname: str
    phone_number: str | None
    birthday: date | None
    gender: UserGender | None  # type: ignore[valid-type]
    country: UserCountry | None  # type: ignore[valid-type]
    city: str | None
    street: str | None
    zip_code: str | None
    picture: str | None
    merchant_type: UserMerchantType | None  # type: ignore[valid-type]
    logo: str | None
    num_of_order_discounts_allowed: int
    loyalty_id: str | None
    entity_source: UserEntitySource | None  # type: ignore[valid-type]
    entity_source_id: str | None
    active: bool
    staff: bool
    admin: bool
    created_at: datetime
    updated_at: datetime
    archived: bool | None
    verified: bool | None
    secondary_email: str | None
    address: str | None
    creator_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, c: sa.Row[Any]) -> IUserNode:
        # Field by field from the row, naming each public field: nothing secret is read, whatever
        # the table grows (the same fields as models.CustomerPublic, without validating a
        # pydantic model per row: the store's column types already are these types).
        return cls(
            id=strawberry.ID(to_global_id("IUserNode", c.pk)),
            pk=c.pk,
            last_login=c.last_login,
            extra_info=JSONString(c.extra_info if c.extra_info is not None else {}),
            deleted_at=c.deleted_at,
            user_type=_enum(UserUserType, c.user_type),
            email=c.email,
            firstname=c.firstname,
            lastname=c.lastname,
            phone_number=c.phone_number,
            birthday=c.birthday,
            gender=_enum(UserGender, c.gender),
            country=_enum(UserCountry, c.country),
            city=c.city,
            street=c.street,
            zip_code=c.zip_code,
            picture=c.picture,
            merchant_type=_enum(UserMerchantType, c.merchant_type),
            logo=c.logo,
            num_of_order_discounts_allowed=c.num_of_order_discounts_allowed,
            loyalty_id=c.loyalty_id,
            entity_source=_enum(UserEntitySource, c.entity_source),
            entity_source_id=c.entity_source_id,
            active=c.active,
            staff=c.staff,
            admin=c.admin,
            created_at=c.created_at,
            updated_at=c.updated_at,
            archived=c.archived,
            verified=c.verified,
            secondary_email=c.secondary_email,
            address=c.address,
            creator_pk=c.creator_pk,
        )

    @strawberry.field(description="Lifetime points earned: the sum of positive ledger entries.")
    async def points_earned(self, info: Ctx) -> int | None:
        return await info.context.loaders.points_earned.load(self.pk)

    @strawberry.field
    async def creator(self, info: Ctx) -> IUserNode | None:
        if self.creator_pk is None:
            return None
        # The visible-customers loader answers None for a creator outside the viewer's scope.
        row = await info.context.loaders.visible_customer.load(self.creator_pk)
        return IUserNode.from_row(row) if row is not None else None

    @strawberry.field(description="Every redemption, newest first.")
    async def redemptions(
        self,
        info: Ctx,
        first: PageArg = None,
        last: PageArg = None,
        before: str | None = None,
        after: str | None = None,
        offset: int | None = None,
    ) -> Connection[RedemptionNode] | None:
        return await _redemption_connection(info, self.pk, None, first, last, before, after, offset)

    @strawberry.field(description="Redemptions that spent stamps, newest first.")
    async def stamps_redemptions(
        self,
        info: Ctx,
        first: PageArg = None,
        last: PageArg = None,
        before: str | None = None,
        after: str | None = None,
        offset: int | None = None,
    ) -> Connection[RedemptionNode] | None:
        return await _redemption_connection(info, self.pk, "STAMPS", first, last, before, after, offset)

    @strawberry.field(description="Redemptions that spent points, newest first.")
    async def points_redemptions(
        self,
        info: Ctx,
        first: PageArg = None,
        last: PageArg = None,
        before: str | None = None,
        after: str | None = None,
        offset: int | None = None,
    ) -> Connection[RedemptionNode] | None:
        return await _redemption_connection(info, self.pk, "POINTS", first, last, before, after, offset)


def _enum(enum: type[Enum], value: str | None) -> Any:
    return enum_value(enum, value)
