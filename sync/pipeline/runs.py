"""Run records: open a run, set its status, finish it, and the summary a run ends with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors import FatalSourceError, Stream
from models import COUNT_FIELDS, ConnectorState, SyncRun, SyncSeen, utcnow
from models.enums import RunStatus

# What a run summary reports; conflicts are shown beside them but are also warnings.
SUMMARY_KEYS = tuple(k for k in COUNT_FIELDS if k != "conflicts")


class RunFailedError(FatalSourceError):
    """A run stopped by an error its stream explained (unreachable, refusing), recorded failed."""

    def __init__(self, run_id: str, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


@dataclass(slots=True)
class RunSummary:
    """How a run ended, as the CLI's `--json` prints it."""

    run_id: str
    status: str
    counts: dict[str, int]
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            **{k: self.counts.get(k, 0) for k in SUMMARY_KEYS},
            "conflicts": self.counts.get("conflicts", 0),
            "error": self.error,
        }


def new_run_id() -> str:
    return uuid.uuid4().hex


def create_run(
    engine: Engine,
    stream: Stream,
    *,
    entity_kind: str,
    mode: str,
    trigger: str,
    run_id: str | None = None,
) -> str:
    """Record a new run (status `running`) and return its id."""
    state = _load_cursor(engine, stream)
    run = SyncRun(
        id=run_id or new_run_id(),
        source=stream.source_name,
        stream=stream.name if entity_kind == "customers" else f"{stream.name}:{entity_kind}",
        mode=mode,
        trigger=trigger,
        status=RunStatus.RUNNING,
        params=stream.describe(),
        cursor_before=state,
    )
    with engine.begin() as conn:
        conn.execute(sa.insert(SyncRun.__table__).values(**run.model_dump()))  # type: ignore[attr-defined]
    return run.id


def _load_cursor(engine: Engine, stream: Stream) -> dict[str, Any]:
    t = ConnectorState.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        cursor = conn.execute(
            sa.select(t.c.cursor).where(t.c.source == stream.source_name, t.c.stream == stream.name)
        ).scalar()
    return dict(cursor or {})


def set_run_status(engine: Engine, run_id: str, status: str, error: str | None) -> None:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(status=status, error=error))


def finish_run(engine: Engine, run_id: str, status: str, error: str | None, stream: Stream) -> None:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    seen = SyncSeen.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            sa.update(runs)
            .where(runs.c.id == run_id)
            .values(status=status, error=error, finished_at=utcnow())
        )
        # The per-run key set only serves duplicate counting while the run lasts.
        conn.execute(sa.delete(seen).where(seen.c.run_id == run_id))
