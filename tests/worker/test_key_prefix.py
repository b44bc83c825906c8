"""One Redis key prefix, one separator: the broker's, the results', beat's and the webhook windows' keys."""

from __future__ import annotations

import uuid
import warnings

import redis

from sync.celery import close_app, make_app
from sync.settings import Settings
from sync.tasks.webhooks import request_import
from tests.worker.conftest import Broker, Processes, wait_for


def test_a_prefix_without_a_separator_is_applied_with_one_to_every_key(
    processes: Processes, broker: Broker
) -> None:
    bare = f"cs-bare-{uuid.uuid4().hex[:8]}"  # ends in a letter or digit, as people write one
    client = redis.Redis.from_url(broker.url, decode_responses=True)
    beat = processes.spawn(
        "beat", ["beat", "-S", "redbeat.RedBeatScheduler", "-l", "INFO"], celery_key_prefix=bare
    )
    settings = Settings(
        celery_broker_url=broker.url,
        celery_queue=broker.queue,
        celery_key_prefix=bare,
        webhook_debounce_seconds=30,
    )
    app = make_app(settings)
    try:
        # No worker listens: the message stays in the queue, under the prefix.
        app.send_task("sync.run.finish", kwargs={"run_id": "0" * 32})
        with warnings.catch_warnings():
            # Celery's Redis backend still calls redis-py's deprecated `setex`.
            warnings.simplefilter("ignore", DeprecationWarning)
            app.backend.store_result(uuid.uuid4().hex, {"status": "succeeded"}, "SUCCESS")
        assert request_import(settings, app, "shopify", "customers", client) == "leading"

        def keys() -> set[str]:
            return set(client.scan_iter(f"{bare}*"))

        wait_for(lambda: any("redbeat" in k for k in keys()), 30, beat)
        found = keys()
        assert {k for k in found if not k.startswith(f"{bare}:")} == set()
        names = {k.removeprefix(f"{bare}:") for k in found}
        assert f"_kombu.binding.{broker.queue}" in names
        assert broker.queue in names
        assert any(n.startswith("celery-task-meta-") for n in names)
        assert "webhook:window:shopify:customers" in names
        assert "redbeat:lock" in names
    finally:
        close_app(app)
        beat.stop()
        for key in client.scan_iter(f"{bare}*"):
            client.delete(key)
        client.close()
