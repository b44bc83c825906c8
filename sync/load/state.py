"""A stream's saved state (`connector_state`): its cursor, written or replaced in one statement."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from models import ConnectorState, utcnow
from sync.load.upsert import upsert_from


def save_state(conn: sa.Connection, source: str, stream: str, cursor: dict[str, Any]) -> None:
    """Keep `cursor` (a JSON object: a watermark, or what was last applied) for (source, stream),
    replacing what was kept, inside `conn`'s transaction."""
    state = ConnectorState.__table__  # type: ignore[attr-defined]
    src = sa.select(
        sa.literal(source).label("source"),
        sa.literal(stream).label("stream"),
        sa.literal(cursor, type_=state.c.cursor.type).label("cursor"),
        sa.literal(utcnow(), type_=state.c.updated_at.type).label("updated_at"),
    )
    upsert_from(
        conn,
        state,
        src,
        ["source", "stream", "cursor", "updated_at"],
        ["source", "stream"],
        lambda ex: {"cursor": ex.cursor, "updated_at": ex.updated_at},
    )
