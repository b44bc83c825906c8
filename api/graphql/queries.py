"""The documented read operations: consumers, consumer, consumerAvailablePromotions, orders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import strawberry
from graphql import GraphQLError

from api.graphql.customers import (
    ConsumerFilter,
    blank_to_none,
    find_customer_pk,
    list_consumers,
)
from api.graphql.orders import OrderFilter, list_orders
from api.graphql.promotions import available_promotions
from api.graphql.read_ahead import consumer_with_nested, redemption_keys
from api.graphql.relay import (
    Connection,
    PageArgs,
    build_connection,
    fields_named,
    from_global_id,
    optional_global_id,
    selects,
    selects_node_field,
    to_global_id,
)
from api.graphql.types import Ctx, IUserNode, OrderNode, PageArg, PromotionNode, StoreNode
from models import utcnow

T = TypeVar("T")


def _aware(value: datetime | None) -> datetime | None:
    # A date-time without an offset is read as UTC, which is how the store keeps time.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def _arguments(info: Ctx, parse: Callable[[], T]) -> T:
    """The parsed arguments; when they are invalid an anonymous caller still hears first that
    it must sign in (the viewer is checked with the first read, after the arguments)."""
    try:
        return parse()
    except GraphQLError:
        await info.context.require_viewer()
        raise


@strawberry.type
class Query:
    @strawberry.field(description="Customers; a consumer sees only itself. Empty filters are ignored.")
    async def consumers(
        self,
        info: Ctx,
        loyalty_id: str | None = None,
        phone_number_icontains: Annotated[
            str | None, strawberry.argument(name="phoneNumber_Icontains")
        ] = None,
        email_icontains: Annotated[str | None, strawberry.argument(name="email_Icontains")] = None,
        first: PageArg = None,
        last: PageArg = None,
        before: str | None = None,
        after: str | None = None,
        offset: int | None = None,
    ) -> Connection[IUserNode] | None:
        page = await _arguments(info, lambda: PageArgs.parse(first, last, before, after, offset))
        filters = ConsumerFilter(
            loyalty_id=blank_to_none(loyalty_id),
            phone_number_icontains=blank_to_none(phone_number_icontains),
            email_icontains=blank_to_none(email_icontains),
            phone_region=info.context.settings.default_phone_region,
        )
        # Their points come in the page's own statement, not in a second trip.
        with_points = selects_node_field(info, "pointsEarned")
        rows, count, start = await info.context.read_scoped(
            list_consumers, filters, page, selects(info, "count"), with_points
        )
        if with_points:
            info.context.loaders.points_earned.prime_many({r.pk: int(r.points_earned) for r in rows})
        return build_connection([IUserNode.from_row(r) for r in rows], count, start)

    @strawberry.field(description="One customer by global id; null when missing or not yours.")
    async def consumer(self, info: Ctx, id: strawberry.ID) -> IUserNode | None:
        pk = await _arguments(info, lambda: from_global_id(id, "IUserNode", "id"))
        # Its points and redemption pages are read with it (one trip), then handed to the loaders
        # its fields ask.
        with_points = any(fields_named(f.selections, "pointsEarned") for f in info.selected_fields)
        keys = redemption_keys(info.selected_fields, pk)
        row, pages = await info.context.read_scoped(consumer_with_nested, pk, with_points, keys)
        if row is None:
            return None
        if with_points:
            info.context.loaders.points_earned.prime(pk, int(row.points_earned))
        info.context.loaders.redemptions.prime_many(pages)
        return IUserNode.from_row(row)

    @strawberry.field(description="Promotions available now to one customer (a consumer: itself).")
    async def consumer_available_promotions(
        self,
        info: Ctx,
        consumer_loyalty_id: str | None = None,
        consumer_email: str | None = None,
        consumer_phone_number: str | None = None,
        store_id: strawberry.ID | None = None,
        first: PageArg = None,
        last: PageArg = None,
        before: str | None = None,
        after: str | None = None,
        offset: int | None = None,
    ) -> Connection[PromotionNode] | None:
        scope = await info.context.scope()
        viewer = scope.viewer
        page = PageArgs.parse(first, last, before, after, offset)
        store_pk = optional_global_id(store_id, "StoreNode", "storeId")
        loyalty_id, email, phone = (
            blank_to_none(consumer_loyalty_id),
            blank_to_none(consumer_email),
            blank_to_none(consumer_phone_number),
        )
        if loyalty_id or email or phone:
            customer_pk = await info.context.read(
                find_customer_pk, loyalty_id, email, phone, info.context.settings.default_phone_region
            )
        elif viewer.sees_everyone or viewer.is_merchant:
            raise GraphQLError(
                "Give consumerLoyaltyId, consumerEmail or consumerPhoneNumber",
                extensions={"code": "BAD_USER_INPUT"},
            )
        else:
            customer_pk = viewer.pk
        if customer_pk is None:
            return build_connection([], 0, 0)
        rows = await info.context.read(available_promotions, scope, customer_pk, store_pk, utcnow())
        start, end = page.window(len(rows))
        nodes = [
            PromotionNode(
                id=strawberry.ID(to_global_id("PromotionNode", p.pk)),
                pk=p.pk,
                name=p.name,
                description=p.description,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                audience=p.audience,
                min_points=p.min_points,
                points_cost=p.points_cost,
                per_customer_limit=p.per_customer_limit,
                tags=list(p.tags or []),
                store=None
                if p.store_pk is None
                else StoreNode(
                    id=strawberry.ID(to_global_id("StoreNode", p.store_pk)),
                    pk=p.store_pk,
                    name=p.store_name,
                ),
            )
            for p in rows[start:end]
        ]
        return build_connection(nodes, len(rows), start)

    @strawberry.field(description="Orders, newest first; a consumer sees only its own.")
    async def orders(
        self,
        info: Ctx,
        consumer_id: Annotated[strawberry.ID | None, strawberry.argument(name="consumer_Id")] = None,
        store_id: Annotated[strawberry.ID | None, strawberry.argument(name="store_Id")] = None,
        completed_at_gte: Annotated[datetime | None, strawberry.argument(name="completedAt_Gte")] = None,
        completed_at_lte: Annotated[datetime | None, strawberry.argument(name="completedAt_Lte")] = None,
        first: PageArg = None,
        last: PageArg = None,
        before: str | None = None,
        after: str | None = None,
        offset: int | None = None,
    ) -> Connection[OrderNode] | None:
        page = await _arguments(info, lambda: PageArgs.parse(first, last, before, after, offset))
        filters = await _arguments(
            info,
            lambda: OrderFilter(
                consumer_pk=optional_global_id(consumer_id, "IUserNode", "consumer_Id"),
                store_pk=optional_global_id(store_id, "StoreNode", "store_Id"),
                completed_at_gte=_aware(completed_at_gte),
                completed_at_lte=_aware(completed_at_lte),
            ),
        )
        rows, count, start = await info.context.read_scoped(
            list_orders, filters, page, selects(info, "count")
        )
        return build_connection([OrderNode.from_row(r) for r in rows], count, start)
