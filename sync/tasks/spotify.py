"""Spotify tasks: the profile refresh, fanned out as one task (and one run) per batch of links."""

from __future__ import annotations

import math
from typing import Any

from celery import shared_task

from models import utcnow
from sync.jobs import deferred_links, link_batches, sync_spotify
from sync.pipeline import StreamBusy
from sync.settings import get_settings
from sync.tasks._base import RunTask, run_id_for


class SpotifyProfilesTask(RunTask):
    def run_of(self, args: tuple[Any, ...], kwargs: dict[str, Any], task_id: str) -> str | None:
        # Only a batch carries a run; the call that plans the batches records none.
        if kwargs.get("link_ids") is None:
            return None
        return str(kwargs.get("run_id") or run_id_for(task_id))


@shared_task(name="sync.spotify.profiles", base=SpotifyProfilesTask, bind=True)
def refresh_spotify_profiles(
    self: RunTask,
    link_ids: list[int] | None = None,
    run_id: str | None = None,
    batch_size: int | None = None,
    trigger: str = "beat",
) -> dict[str, Any]:
    """Without `link_ids`, send one task per batch of linked accounts; with them, refresh that batch.

    Arguments are link ids and a run id, never a token. A batch re-applied with the same
    arguments (Flower, a redelivery) carries its run on after its last committed link.
    Rate-limited accounts are deferred, not waited for: a task for them is sent with Retry-After
    as its countdown (or, past the longest safe countdown, left to the next scheduled refresh).
    """
    settings = get_settings()
    if link_ids is None:
        batches = link_batches(settings, batch_size or settings.spotify.batch_size)
        for batch in batches:
            self.app.send_task("sync.spotify.profiles", kwargs={"link_ids": batch, "trigger": trigger})
        return {"status": "fanned_out", "batches": len(batches), "links": sum(len(b) for b in batches)}
    run_id = run_id or run_id_for(self.request.id)
    try:
        summary = sync_spotify(
            settings,
            link_ids=link_ids,
            run_id=run_id,
            trigger=trigger,
            token=self.request.id,
            task_id=self.request.id,
        )
    except StreamBusy as exc:
        if exc.holder == run_id:
            return {"run_id": run_id, "status": "running", "note": str(exc)}
        raise self.retry(exc=exc, countdown=settings.run_lease_seconds) from None
    result: dict[str, Any] = summary.as_dict()
    deferred, due = deferred_links(settings, link_ids)
    if deferred and due is not None:
        wait = max(1, math.ceil((due - utcnow()).total_seconds()))
        # Spotify said when to come back: a task for just those accounts, sent with that
        # countdown, unless it is longer than a countdown may safely be (it must stay under
        # the broker's visibility timeout); then the next scheduled refresh reads them.
        if wait <= settings.celery_retry_backoff_max_seconds:
            later = self.app.send_task(
                "sync.spotify.profiles", kwargs={"link_ids": deferred, "trigger": trigger}, countdown=wait
            )
            result["rescheduled"] = {"links": len(deferred), "countdown": wait, "task_id": later.id}
        else:
            result["next_due"] = due.isoformat()
    return result
