"""Spotify tasks: the profile refresh, fanned out as one task (and one run) per batch of links."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from sync.jobs import link_batches, next_due, sync_spotify
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
    Rate-limited accounts are deferred, not waited for: the next scheduled refresh reads them.
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
    due = next_due(settings)
    return {**summary.as_dict(), "next_due": due.isoformat() if due else None}
