"""The Celery beat schedule: one readable timetable, in UTC, built from the settings."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

from celery.schedules import crontab, schedule

from sync.settings import Settings

# Times are UTC (the app's `timezone`): beat's daylight-saving handling has open bugs, and
# a nightly sync that runs twice or never on a change-over night is worse than one at 03:30
# local time in summer.


def timetable(settings: Settings, registered: Collection[str]) -> dict[str, dict[str, Any]]:
    """Beat's entries for the sources this deployment has configured, by stable name.

    `registered` holds the worker's task names: an entry whose task this build lacks is
    left out rather than sent to a queue no worker understands.
    """
    every = timedelta(seconds=settings.beat_incremental_every_seconds)
    nightly_hour, nightly_minute = (int(p) for p in settings.beat_nightly_at.split(":"))
    entries: dict[str, dict[str, Any]] = {}

    if _salesforce_configured(settings):
        for offset, stream in enumerate(("contacts", "orders")):
            task = f"sync.salesforce.{stream}"
            # Every 15 minutes: what changed since the cursor, a few hundred records at most.
            # A tick older than one interval is dropped; the next one reads the same changes.
            entries[f"salesforce-{stream}-incremental"] = {
                "task": task,
                "schedule": schedule(every),
                "kwargs": {"full": False, "trigger": "beat"},
                "options": {"expires": every.total_seconds()},
            }
            # Nightly, everything: catches what the incremental cursor cannot (deletes beyond
            # the delete log's reach, a changed mapping). Streams 15 minutes apart.
            entries[f"salesforce-{stream}-nightly-full"] = {
                "task": task,
                "schedule": crontab(hour=nightly_hour, minute=(nightly_minute + 15 * offset) % 60),
                "kwargs": {"full": True, "trigger": "beat"},
                "options": {"expires": settings.beat_nightly_expires_seconds},
            }

    # Linked Spotify profiles change rarely and their API rate-limits hard: once a night,
    # after Salesforce. Only when this build has the task and a Spotify app is configured.
    if "sync.spotify.profiles" in registered and _spotify_configured(settings):
        entries["spotify-profiles-nightly"] = {
            "task": "sync.spotify.profiles",
            "schedule": crontab(hour=(nightly_hour + 1) % 24, minute=nightly_minute),
            "kwargs": {"trigger": "beat"},
            "options": {"expires": settings.beat_nightly_expires_seconds},
        }
    # Webhook imports are requested by the webhooks themselves; this only catches a request
    # that was lost (broker down after the rows were stored), so every 5 minutes is enough.
    if "sync.webhook.sweep" in registered:
        entries["webhook-inbox-sweep"] = {
            "task": "sync.webhook.sweep",
            "schedule": schedule(timedelta(minutes=5)),
            "options": {"expires": 300},
        }
    return entries


def _salesforce_configured(settings: Settings) -> bool:
    from connectors import FatalSourceError
    from connectors.salesforce.auth import auth_mode

    try:
        auth_mode(settings.salesforce)
    except FatalSourceError:
        return False
    return True


def _spotify_configured(settings: Settings) -> bool:
    spotify = getattr(settings, "spotify", None)
    return bool(spotify is not None and getattr(spotify, "client_id", None))
