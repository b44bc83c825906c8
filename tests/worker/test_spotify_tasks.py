"""`sync.spotify.profiles` on a real worker: fanned out per batch, 429s sent again later, no token anywhere."""

from __future__ import annotations

import sqlalchemy as sa
from celery import Celery
from cryptography.fernet import Fernet

from models import SyncRun, get_engine
from tests.fakes.spotify import FakeSpotify
from tests.sync.test_spotify_sync import link_accounts
from tests.worker.conftest import Broker, Processes, wait_for


def test_a_refresh_fans_out_one_run_per_batch_and_no_token_leaves_the_store(
    processes: Processes, client_app: Celery, broker: Broker
) -> None:
    key = Fernet.generate_key().decode()
    engine = get_engine(processes.store_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with FakeSpotify() as fake:
        users = [fake.add_user() for _ in range(7)]
        link_accounts(engine, fake, users, key=key, expires_in=30)  # each batch refreshes tokens
        fake.revoke(users[4])
        # The first profile read meets a 429: its batch is deferred and sent again 2 s later.
        fake.fail_next("/v1/me", "rate_limited", retry_after=2)
        worker = processes.worker(
            client_app,
            token_encryption_key=key,
            spotify_client_id=fake.client_id,
            spotify_client_secret=fake.client_secret,
            spotify_redirect_uri="http://127.0.0.1:9/callback/spotify",
            spotify_api_url=fake.url,
            spotify_accounts_url=fake.url,
        )
        planned = client_app.send_task(
            "sync.spotify.profiles", kwargs={"batch_size": 3, "trigger": "operator"}
        )
        assert planned.get(timeout=60) == {"status": "fanned_out", "batches": 3, "links": 7}

        def finished() -> bool:
            with engine.connect() as conn:
                done = conn.execute(
                    sa.select(sa.func.count()).where(runs.c.source == "spotify", runs.c.status == "succeeded")
                ).scalar_one()
            return int(done) == 4

        wait_for(finished, 60, worker)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(runs).where(runs.c.source == "spotify")).mappings().all()
        # 7 links: 1 revoked, 6 read; the first batch's 3 were deferred once, then read.
        assert sum(r["read"] for r in rows) == 6 and sum(r["warnings"] for r in rows) == 1 + 3
        assert {r["trigger"] for r in rows} == {"operator"} and all(r["task_id"] for r in rows)
        assert sorted(len(r["params"]["link_ids"]) for r in rows) == [1, 3, 3, 3]

        # What Flower shows (task names, arguments, results: result_extended) and what the
        # worker logged hold link ids and counts, never a token or the app's secret.
        # Read through the app's own backend client, which the fixture closes (no stray socket).
        client = client_app.backend.client
        stored = b"".join(client.get(k) or b"" for k in client.scan_iter(f"{broker.prefix}*task-meta*"))
        assert b"link_ids" in stored
        text = stored.decode(errors="replace") + worker.log.read_text(errors="replace")
        secrets = [*fake._access, *fake._refresh, fake.client_secret, key]
        assert not [s for s in secrets if s in text]
