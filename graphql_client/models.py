"""Validated result models of the documented operations (camelCase on the wire)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

FormErrors = dict[str, list[dict[str, str]]]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class TokenPayload(_Model):
    """`register` and `obtainToken` answer the same four fields."""

    success: bool
    errors: FormErrors | None
    token: str | None
    refresh_token: str | None


class SignUp(_Model):
    # `register` would shadow ABCMeta.register on the model class.
    result: TokenPayload = Field(alias="register")


class ObtainToken(_Model):
    obtain_token: TokenPayload


class ConsumerListNode(_Model):
    pk: int
    id: str
    firstname: str
    lastname: str
    email: str | None
    points_earned: int | None
    phone_number: str | None
    birthday: date | None
    address: str | None
    last_login: datetime | None
    loyalty_id: str | None
    picture: str | None
    city: str | None


class ConsumerListEdge(_Model):
    node: ConsumerListNode


class ConsumerListConnection(_Model):
    edges: list[ConsumerListEdge]


class Consumers(_Model):
    consumers: ConsumerListConnection | None


class RedemptionNode(_Model):
    id: str
    created_at: datetime


class RedemptionEdge(_Model):
    node: RedemptionNode


class RedemptionConnection(_Model):
    edges: list[RedemptionEdge]


class ConsumerDetail(_Model):
    points_earned: int | None
    redemptions: RedemptionConnection | None
    stamps_redemptions: RedemptionConnection | None
    points_redemptions: RedemptionConnection | None


class Consumer(_Model):
    consumer: ConsumerDetail | None


class PromotionNode(_Model):
    name: str


class PromotionEdge(_Model):
    node: PromotionNode


class PromotionConnection(_Model):
    count: int
    edges: list[PromotionEdge]


class ConsumerAvailablePromotions(_Model):
    consumer_available_promotions: PromotionConnection | None


class OrderTypeName(_Model):
    name: str


class OrderNode(_Model):
    order_id: str
    completed_at: datetime | None
    payment_type_display: str | None
    total: Decimal
    order_type: OrderTypeName | None


class OrderEdge(_Model):
    node: OrderNode


class OrderConnection(_Model):
    edges: list[OrderEdge]


class PurchaseHistory(_Model):
    purchase_history: OrderConnection | None


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    """Variables without the ones left out, so the server sees them as not given."""
    return {k: v for k, v in values.items() if v is not None}
