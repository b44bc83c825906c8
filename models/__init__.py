"""The store: SQLModel tables, the engine and migrations."""

from __future__ import annotations

from sqlmodel import SQLModel

from models._types import UTCDateTime, utcnow
from models.auth import CustomerLogin, LoginThrottle, RefreshToken
from models.commerce import Order, OrderType, PointsLedger, Promotion, Redemption, Store
from models.customer import GOLDEN_FIELDS, POSTGRES_ONLY_INDEXES, Customer, CustomerBase, CustomerPublic
from models.db import (
    READ_POOL_SIZE,
    Migration,
    SchemaOutOfDateError,
    ensure_schema,
    get_engine,
    get_read_engine,
    session_scope,
    upgrade,
)
from models.enums import (
    PromotionAudience,
    RecordOutcome,
    RedemptionKind,
    RunStatus,
    UserEntitySource,
    UserGender,
    UserMerchantType,
    UserUserType,
)
from models.runs import (
    COUNT_FIELDS,
    ConnectorState,
    RunLease,
    SyncChunk,
    SyncPage,
    SyncReject,
    SyncRun,
    SyncSeen,
)
from models.source import CustomerSource, SourceTombstone
from models.spotify import OAuthStateUse, SpotifyLink, SpotifyLinkStatus
from models.webhooks import WebhookDelivery, WebhookInbox

metadata = SQLModel.metadata

__all__ = [
    "COUNT_FIELDS",
    "GOLDEN_FIELDS",
    "POSTGRES_ONLY_INDEXES",
    "READ_POOL_SIZE",
    "ConnectorState",
    "Customer",
    "CustomerBase",
    "CustomerLogin",
    "CustomerPublic",
    "CustomerSource",
    "LoginThrottle",
    "Migration",
    "OAuthStateUse",
    "Order",
    "OrderType",
    "PointsLedger",
    "Promotion",
    "PromotionAudience",
    "RecordOutcome",
    "Redemption",
    "RedemptionKind",
    "RefreshToken",
    "RunLease",
    "RunStatus",
    "SchemaOutOfDateError",
    "SourceTombstone",
    "SpotifyLink",
    "SpotifyLinkStatus",
    "Store",
    "SyncChunk",
    "SyncPage",
    "SyncReject",
    "SyncRun",
    "SyncSeen",
    "UTCDateTime",
    "UserEntitySource",
    "UserGender",
    "UserMerchantType",
    "UserUserType",
    "WebhookDelivery",
    "WebhookInbox",
    "ensure_schema",
    "get_engine",
    "get_read_engine",
    "metadata",
    "session_scope",
    "upgrade",
    "utcnow",
]
