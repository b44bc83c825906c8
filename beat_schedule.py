"""The Celery beat schedule: one readable timetable, in UTC (filled in by the orchestration work)."""

from __future__ import annotations

from typing import Any

# Entries are added with the Celery tasks; until then nothing runs on a schedule.
beat_schedule: dict[str, dict[str, Any]] = {}
