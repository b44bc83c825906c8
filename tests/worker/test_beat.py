"""Two beat processes (redbeat): each entry is dispatched once per tick, and the standby takes over."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from datetime import datetime

import redis

from tests.worker.conftest import Processes, wait_for

EVERY = 2
BEAT_SETTINGS = {
    # A configured org (never called: no worker consumes this queue) gives the Salesforce entries.
    "salesforce_username": "beat@example.com",
    "salesforce_password": "not-used",
    "beat_incremental_every_seconds": EVERY,
    "celery_beat_lock_timeout_seconds": 3,
    "celery_beat_max_loop_seconds": 1,
}


def _dispatches(processes: Processes, queue: str) -> dict[str, list[float]]:
    """Send times of the queued beat messages, by entry (task and full/incremental)."""
    client = redis.Redis.from_url(processes.broker.url)
    found: dict[str, list[float]] = defaultdict(list)
    for raw in client.lrange(f"{processes.broker.prefix}{queue}", 0, -1):
        headers = json.loads(raw)["headers"]
        # `expires` is the send time plus the entry's expiry (one interval).
        sent = datetime.fromisoformat(headers["expires"]).timestamp() - EVERY
        found[f"{headers['task']} {headers['kwargsrepr']}"].append(sent)
    client.close()
    return {k: sorted(v) for k, v in found.items()}


def _without_sweep(seen: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: v for k, v in seen.items() if not k.startswith("sync.webhook.sweep")}


def test_two_beats_dispatch_each_entry_once_per_tick_and_the_standby_takes_over(processes: Processes) -> None:
    queue = f"{processes.broker.queue}-beat"
    args = ["beat", "-S", "redbeat.RedBeatScheduler", "-l", "INFO"]
    beats = [processes.spawn(f"beat{i}", args, celery_queue=queue, **BEAT_SETTINGS) for i in range(2)]
    wait_for(lambda: any("Acquired lock" in b.log.read_text() for b in beats), 30)
    time.sleep(4 * EVERY + 1)
    leader = next(b for b in beats if "Acquired lock" in b.log.read_text())
    standby = next(b for b in beats if b is not leader)
    assert "Acquired lock" not in standby.log.read_text(), "two beats held the lock"

    # The webhook inbox sweep (every 5 minutes) is due at once on a fresh schedule: not a tick here.
    seen = _without_sweep(_dispatches(processes, queue))
    assert set(seen) == {
        "sync.salesforce.contacts {'full': False, 'trigger': 'beat'}",
        "sync.salesforce.orders {'full': False, 'trigger': 'beat'}",
    }
    for times in seen.values():
        assert len(times) >= 3
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) > EVERY * 0.75, f"an entry was dispatched twice in one tick: {gaps}"

    # The leader dies without releasing its lock: the standby takes over once it expires.
    leader.kill()
    killed_at = time.time()
    wait_for(lambda: "Acquired lock" in standby.log.read_text(), 20, standby)
    time.sleep(2 * EVERY + 1)
    after = _without_sweep(_dispatches(processes, queue))
    for entry, times in after.items():
        assert any(t > killed_at for t in times), f"{entry} stopped after the leader died"
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) > EVERY * 0.75, f"{entry} dispatched twice in one tick: {gaps}"
