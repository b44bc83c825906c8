"""The documented enums of the customer object, as the API names them."""

from __future__ import annotations

from enum import StrEnum


class UserUserType(StrEnum):
    """Who a customer is to the platform; sign-up may only choose CONSUMER or MERCHANT."""

    CONSUMER = "CONSUMER"
    MERCHANT = "MERCHANT"
    STAFF = "STAFF"
    ADMIN = "ADMIN"


class UserGender(StrEnum):
    """Gender as the customer object documents it."""

    MALE = "MALE"
    FEMALE = "FEMALE"
    OTHER = "OTHER"


class UserMerchantType(StrEnum):
    """What kind of business a merchant runs."""

    RESTAURANT = "RESTAURANT"
    CAFE = "CAFE"
    BAR = "BAR"
    RETAIL = "RETAIL"
    OTHER = "OTHER"


class UserEntitySource(StrEnum):
    """The kind of place a customer record came from."""

    INTERNAL = "INTERNAL"
    SALESFORCE = "SALESFORCE"
    SPOTIFY = "SPOTIFY"
    SHOPIFY = "SHOPIFY"
    MAILCHIMP = "MAILCHIMP"
    HUBSPOT = "HUBSPOT"
    CSV = "CSV"


class RunStatus(StrEnum):
    """Where a sync run stands; `paused` runs resume from their checkpoint."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PAUSED = "paused"
    # Another run held the stream when this one was due; `held_by` names it.
    SKIPPED = "skipped"


class RecordOutcome(StrEnum):
    """What became of one input record; every record ends as exactly one of these."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    REJECTED = "rejected"
    DUPLICATE = "duplicates"


class PromotionAudience(StrEnum):
    """Who a promotion is offered to."""

    EVERYONE = "EVERYONE"
    NEW_CUSTOMERS = "NEW_CUSTOMERS"
    BIRTHDAY_MONTH = "BIRTHDAY_MONTH"
    MIN_POINTS = "MIN_POINTS"
    TAGS = "TAGS"


class RedemptionKind(StrEnum):
    """A redemption spends either points or stamps."""

    POINTS = "POINTS"
    STAMPS = "STAMPS"
