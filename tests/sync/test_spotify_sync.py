"""The Spotify refresh on the real store: outcomes counted, tokens encrypted, keys rotated, no secret leaked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from connectors import FatalSourceError
from connectors.spotify import TokenCipher, TokenKeyError, TokenSet
from models import CustomerSource, SpotifyLink, SyncReject, SyncRun, get_engine
from sync.cli import app
from sync.jobs import LinkRefusedError, complete_link, resume_run, unlink_spotify
from sync.jobs.spotify import encrypted_tokens, link_batches, rotate_token_keys, sync_spotify
from sync.jobs.spotify_link import sign_state
from sync.load import find_customer
from sync.log import configure_logging
from sync.pipeline import Lease
from sync.pipeline.lease import acquire
from sync.settings import Settings
from tests.api.builders import make_customers, make_source_row
from tests.conftest import truncate_all
from tests.fakes import spotify
from tests.fakes.spotify import FakeSpotify, FakeUser

fake_spotify = spotify.fake_spotify
KEY = Fernet.generate_key().decode()


def table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


def settings_for(url: str, fake: FakeSpotify, key: str = KEY, **overrides: Any) -> Settings:
    return Settings(database_url=url, token_encryption_key=key, spotify=fake.settings(**overrides))


def link_accounts(
    engine: Engine, fake: FakeSpotify, users: list[FakeUser], key: str = KEY, expires_in: int = 3600
) -> list[int]:
    """One customer per user, each linked with tokens the fake issued; the link pks."""
    cipher = TokenCipher.from_setting(key)
    pks = make_customers(engine, len(users))
    now = datetime.now(UTC)
    rows = []
    for pk, user in zip(pks, users, strict=True):
        issued = fake.issue_tokens(user, expires_in=expires_in)
        tokens = TokenSet(
            issued["access_token"],
            issued["refresh_token"],
            now + timedelta(seconds=expires_in),
            issued["scope"],
        )
        rows.append(
            {
                "customer_pk": pk,
                "spotify_account_id": user.key,
                "status": "linked",
                "created_at": now,
                "updated_at": now,
                **encrypted_tokens(cipher, tokens),
            }
        )
    with engine.begin() as conn:
        result = conn.execute(table(SpotifyLink).insert().returning(table(SpotifyLink).c.pk), rows)
        return sorted(int(pk) for pk in result.scalars())


def reasons(engine: Engine, run_id: str) -> dict[str, int]:
    rejects = table(SyncReject)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(rejects.c.reason, sa.func.count())
            .where(rejects.c.run_id == run_id)
            .group_by(rejects.c.reason)
        ).all()
    return {reason: count for reason, count in rows}


def links(engine: Engine) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["pk"]: dict(r) for r in conn.execute(sa.select(table(SpotifyLink))).mappings()}


@pytest.mark.postgres
def test_500_links_with_revoked_tokens_and_a_429_burst_complete_with_each_outcome_counted(
    pg_only_url: str, fake_spotify: FakeSpotify
) -> None:
    engine = get_engine(pg_only_url)
    users = [fake_spotify.add_user() for _ in range(500)]
    link_pks = link_accounts(engine, fake_spotify, users)
    revoked = [users[i] for i in (10, 60, 120, 180, 240)]
    cipher = TokenCipher.from_setting(KEY)
    with engine.begin() as conn:
        # These five are about to expire, so the run refreshes them, and Spotify says invalid_grant.
        conn.execute(
            sa.update(table(SpotifyLink))
            .where(table(SpotifyLink).c.spotify_account_id.in_([u.key for u in revoked]))
            .values(expires_at=datetime.now(UTC) + timedelta(seconds=30))
        )
    for user in revoked:
        fake_spotify.revoke(user)
    # A burst of 429s from the 300th profile read on, with an hour to wait: the run must not.
    # Spotify's limit is per app, so the first 429 defers every account after it, untried.
    burst = fake_spotify.fail_next(
        lambda r: r.path.startswith("/v1/me") and len(fake_spotify.requests_to("/v1/me")) >= 299,
        "rate_limited",
        times=5,
        retry_after=3600,
    )
    settings = settings_for(pg_only_url, fake_spotify)

    started = datetime.now(UTC)
    summary = sync_spotify(settings)
    assert datetime.now(UTC) - started < timedelta(seconds=60)

    assert summary.status == "succeeded"
    why = reasons(engine, summary.run_id)
    assert why["token_revoked"] == 5
    deferred = why["rate_limited"]
    assert burst.times == 4  # one call met the burst; none was made while Retry-After ran
    assert deferred == 500 - 299 - 5  # the account that met the 429 and every one after it
    counts = summary.counts
    # Each profile joins the customer who linked it: `created` counts customers, so an update.
    assert counts["read"] == 500 - 5 - deferred == counts["updated"]
    assert counts["warnings"] == 5 + deferred and counts["rejected"] == 0
    state = links(engine)
    assert sorted(pk for pk, r in state.items() if r["status"] == "needs_relink") == sorted(
        pk for pk in link_pks if state[pk]["spotify_account_id"] in {u.key for u in revoked}
    )
    later = [pk for pk, r in state.items() if r["retry_after"] is not None]
    assert len(later) == deferred
    assert all(state[pk]["retry_after"] > started + timedelta(minutes=59) for pk in later)
    # Tokens that were refreshed are stored, still encrypted.
    for row in state.values():
        assert cipher.decrypt(row["access_token_encrypted"]).startswith("BQ")

    # Until Retry-After passes, a run leaves the deferred accounts alone.
    again = sync_spotify(settings, link_ids=later)
    assert again.counts["read"] == 0
    # Once it has passed, a run (here: one batch of exactly those links) picks them up.
    fake_spotify.clear_faults()
    with engine.begin() as conn:
        conn.execute(
            sa.update(table(SpotifyLink))
            .where(table(SpotifyLink).c.pk.in_(later))
            .values(retry_after=datetime.now(UTC) - timedelta(seconds=1))
        )
    caught_up = sync_spotify(settings, link_ids=later)
    assert (caught_up.counts["read"], caught_up.counts["updated"], caught_up.counts["warnings"]) == (
        deferred,
        deferred,
        0,
    )
    assert all(r["retry_after"] is None for r in links(engine).values())
    with engine.connect() as conn:
        spotify_rows = conn.execute(
            sa.select(sa.func.count()).where(table(CustomerSource).c.source == "spotify")
        ).scalar_one()
    assert spotify_rows == 495


def test_the_refresh_maps_the_profile_onto_the_linked_customer(
    db_url: str, fake_spotify: FakeSpotify
) -> None:
    engine = get_engine(db_url)
    user = fake_spotify.add_user()
    (link_pk,) = link_accounts(engine, fake_spotify, [user])
    summary = sync_spotify(settings_for(db_url, fake_spotify))
    # The profile joins the linked customer (no customer is created): an update.
    assert (summary.counts["read"], summary.counts["created"], summary.counts["updated"]) == (1, 0, 1)
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(table(CustomerSource)).where(table(CustomerSource).c.source == "spotify"))
            .mappings()
            .one()
        )
        customer_pk = links(engine)[link_pk]["customer_pk"]
    assert row["customer_pk"] == customer_pk and row["source_id"] == user.key
    assert row["entity_source"] == "SPOTIFY"
    payload = row["payload"]
    assert (payload["firstname"], payload["lastname"], payload["country"]) == ("JM", "Wizzler", "SE")
    assert payload["email"] == user.profile["email"]
    assert payload["picture"] == user.profile["images"][0]["url"]
    assert payload["extra_info"] == {
        "spotify": {
            "product": "premium",
            "followers": 3829,
            "profileUrl": user.profile["external_urls"]["spotify"],
        }
    }
    # Nothing changed at Spotify: the next refresh is all `unchanged`.
    assert sync_spotify(settings_for(db_url, fake_spotify)).counts["unchanged"] == 1


def test_the_golden_record_keeps_higher_priority_sources(pg_only_url: str, fake_spotify: FakeSpotify) -> None:
    engine = get_engine(pg_only_url)
    user = fake_spotify.add_user()
    (link_pk,) = link_accounts(engine, fake_spotify, [user])
    customer_pk = links(engine)[link_pk]["customer_pk"]
    make_source_row(
        engine,
        customer_pk,
        "internal",
        {"firstname": "Jane", "lastname": "Roe", "email": "jane@example.com"},
        priority=100,
    )
    sync_spotify(settings_for(pg_only_url, fake_spotify))
    customer = find_customer(engine, pk=customer_pk)
    assert customer is not None
    assert (customer["firstname"], customer["lastname"], customer["email"]) == (
        "Jane",
        "Roe",
        "jane@example.com",
    )
    assert customer["picture"] == user.profile["images"][0]["url"] and customer["country"] == "SE"


def test_tokens_at_rest_are_unreadable_without_the_key_and_the_key_rotates(
    db_url: str, fake_spotify: FakeSpotify
) -> None:
    engine = get_engine(db_url)
    user = fake_spotify.add_user()
    link_accounts(engine, fake_spotify, [user])
    issued = [*fake_spotify._access, *fake_spotify._refresh]
    with engine.connect() as conn:
        raw = json.dumps(
            [list(r) for r in conn.execute(sa.text("SELECT * FROM spotify_link")).all()], default=str
        )
    assert not [t for t in issued if t in raw]
    stored = links(engine)
    other = TokenCipher.from_setting(Fernet.generate_key().decode())
    with pytest.raises(TokenKeyError):
        other.decrypt(next(iter(stored.values()))["refresh_token_encrypted"])

    new = Fernet.generate_key().decode()
    both = settings_for(db_url, fake_spotify, key=f"{new},{KEY}")
    assert sync_spotify(both).counts["read"] == 1  # old tokens still open
    assert rotate_token_keys(both) == 1
    assert sync_spotify(settings_for(db_url, fake_spotify, key=new)).counts["read"] == 1
    with pytest.raises(TokenKeyError):
        sync_spotify(settings_for(db_url, fake_spotify, key=KEY))


def test_no_token_or_secret_in_logs_or_run_records(
    db_url: str, fake_spotify: FakeSpotify, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = get_engine(db_url)
    users = [fake_spotify.add_user() for _ in range(4)]
    link_accounts(engine, fake_spotify, users, expires_in=30)  # all refreshed on the way
    fake_spotify.revoke(users[1])
    fake_spotify.fail_next("/v1/me", "rate_limited", retry_after=60)
    fake_spotify.fail_next("/v1/me", "server_error", status=503)
    configure_logging("DEBUG", json=True)
    summary = sync_spotify(settings_for(db_url, fake_spotify))
    assert summary.counts["warnings"] >= 2
    with engine.connect() as conn:
        records = json.dumps(
            [
                [dict(r) for r in conn.execute(sa.select(table(SyncRun))).mappings()],
                [dict(r) for r in conn.execute(sa.select(table(SyncReject))).mappings()],
            ],
            default=str,
        )
    logs = capsys.readouterr()
    text = records + logs.out + logs.err
    assert "spotify.token_refreshed" in logs.err  # the log was captured
    secrets = [*fake_spotify._access, *fake_spotify._refresh, fake_spotify.client_secret, KEY]
    assert not [s for s in secrets if s in text]


def test_batches_cover_every_linked_account(db_url: str, fake_spotify: FakeSpotify) -> None:
    engine = get_engine(db_url)
    pks = link_accounts(engine, fake_spotify, [fake_spotify.add_user() for _ in range(7)])
    settings = settings_for(db_url, fake_spotify)
    batches = link_batches(settings, size=3)
    assert [len(b) for b in batches] == [3, 3, 1] and sorted(pk for b in batches for pk in b) == pks
    total = sum(sync_spotify(settings, link_ids=b, trigger="beat").counts["read"] for b in batches)
    assert total == 7


def test_missing_key_or_app_settings_fail_before_a_run(db_url: str, fake_spotify: FakeSpotify) -> None:
    with pytest.raises(TokenKeyError, match="TOKEN_ENCRYPTION_KEY is not set"):
        sync_spotify(Settings(database_url=db_url, spotify=fake_spotify.settings()))
    with pytest.raises(FatalSourceError, match="SPOTIFY_CLIENT_ID"):
        sync_spotify(Settings(database_url=db_url, token_encryption_key=KEY, spotify={"client_id": None}))
    with get_engine(db_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table(SyncRun))).scalar_one() == 0


def _spotify_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, url: str, fake: FakeSpotify, key: str | None
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", fake.client_secret)
    monkeypatch.setenv("SPOTIFY_REDIRECT_URI", "http://127.0.0.1:9/callback/spotify")
    monkeypatch.setenv("SPOTIFY_API_URL", fake.url)
    monkeypatch.setenv("SPOTIFY_ACCOUNTS_URL", fake.url)
    if key is None:
        monkeypatch.delenv("TOKEN_ENCRYPTION_KEY", raising=False)
    else:
        monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", key)


def test_cli_sync_spotify_prints_the_run_as_json(
    sqlite_url: str, fake_spotify: FakeSpotify, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    engine = get_engine(sqlite_url)
    truncate_all(engine)
    users = [fake_spotify.add_user(), fake_spotify.add_user()]
    link_accounts(engine, fake_spotify, users)
    fake_spotify.revoke(users[1])
    fake_spotify.expire_access_tokens()
    _spotify_env(monkeypatch, tmp_path, sqlite_url, fake_spotify, KEY)
    result = CliRunner().invoke(app, ["sync", "spotify", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["read"], summary["warnings"]) == ("succeeded", 1, 1)


@pytest.mark.parametrize(
    ("key", "unset", "message"),
    [
        (None, None, "TOKEN_ENCRYPTION_KEY is not set"),
        ("not-a-fernet-key", None, "key 1 is not a Fernet key"),
        (
            KEY,
            "SPOTIFY_CLIENT_SECRET",
            "set SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET and SPOTIFY_REDIRECT_URI",
        ),
    ],
    ids=["no-key", "bad-key", "no-client-secret"],  # KEY is drawn afresh in each process
)
def test_cli_sync_spotify_configuration_errors_are_one_line(
    sqlite_url: str,
    fake_spotify: FakeSpotify,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    key: str | None,
    unset: str | None,
    message: str,
) -> None:
    _spotify_env(monkeypatch, tmp_path, sqlite_url, fake_spotify, key)
    if unset:
        monkeypatch.delenv(unset)
    result = CliRunner().invoke(app, ["sync", "spotify"])
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_stopped_refresh_run_resumes_after_its_last_committed_link(
    db_url: str, fake_spotify: FakeSpotify
) -> None:
    engine = get_engine(db_url)
    pks = link_accounts(engine, fake_spotify, [fake_spotify.add_user() for _ in range(5)])
    settings = settings_for(db_url, fake_spotify)
    batch = pks[:4]
    first = sync_spotify(settings, link_ids=batch)
    assert first.counts["read"] == 4
    runs = table(SyncRun)
    with engine.begin() as conn:
        # As if its process had died after committing the first two links of its batch.
        conn.execute(
            sa.update(runs)
            .where(runs.c.id == first.run_id)
            .values(
                status="failed",
                checkpoint={"records": 2, "after_link": batch[1]},
                read=2,
                unchanged=0,
                created=2,
            )
        )
    resumed = resume_run(settings, first.run_id)
    assert resumed.run_id == first.run_id and resumed.status == "succeeded"
    # Links 3 and 4 of the batch read again (unchanged); link 5, outside the batch, untouched.
    assert (resumed.counts["read"], resumed.counts["created"], resumed.counts["unchanged"]) == (4, 2, 2)
    with engine.connect() as conn:
        params = conn.execute(sa.select(runs.c.params).where(runs.c.id == first.run_id)).scalar_one()
    assert params["link_ids"] == batch and "client_secret" not in json.dumps(params)


def test_connector_log_lines_carry_the_run_id(
    db_url: str, fake_spotify: FakeSpotify, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = get_engine(db_url)
    user = fake_spotify.add_user()
    link_accounts(engine, fake_spotify, [user], expires_in=30)
    fake_spotify.revoke(user)
    configure_logging("INFO", json=True)
    summary = sync_spotify(settings_for(db_url, fake_spotify))
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    revoked = [line for line in lines if line["event"] == "spotify.link_revoked"]
    assert revoked and revoked[0]["run_id"] == summary.run_id


def test_links_unlinks_and_batches_run_beside_a_refresh_that_holds_its_stream(
    db_url: str, fake_spotify: FakeSpotify
) -> None:
    engine = get_engine(db_url)
    settings = settings_for(db_url, fake_spotify)
    linked = link_accounts(engine, fake_spotify, [fake_spotify.add_user() for _ in range(3)])
    # A full refresh elsewhere holds spotify/profiles for the next two minutes.
    assert acquire(engine, Lease("spotify", "profiles", "f" * 32, "other-worker", 120)) is None

    customer = make_customers(engine, 1)[0]
    user = fake_spotify.add_user()
    code = fake_spotify.issue_code(user, settings.spotify.redirect_uri or "")
    result = complete_link(settings, sign_state(settings, customer), code)
    # The profile joins the customer who linked it (`created` counts customers): an update.
    assert (result.run.status, result.run.counts["updated"]) == ("succeeded", 1)
    assert unlink_spotify(settings, customer) == 1

    batch = sync_spotify(settings, link_ids=linked[:2])
    assert (batch.status, batch.counts["read"]) == ("succeeded", 2)
    # Another full refresh is what the lease keeps out.
    assert sync_spotify(settings).status == "skipped"
    runs = table(SyncRun)
    with engine.connect() as conn:
        streams = dict(conn.execute(sa.select(runs.c.stream, runs.c.status)).all())
    assert streams == {
        f"link:{customer}": "succeeded",
        f"unlink:{customer}": "succeeded",
        f"profiles:{linked[0]}-{linked[1]}": "succeeded",
        "profiles": "skipped",
    }


def test_an_account_linked_elsewhere_is_refused_and_moves_once_unlinked(
    db_url: str, fake_spotify: FakeSpotify
) -> None:
    engine = get_engine(db_url)
    settings = settings_for(db_url, fake_spotify)
    first, second = make_customers(engine, 2)
    make_source_row(engine, first, "internal", {"firstname": "Ann"}, priority=100)
    user = fake_spotify.add_user()

    def link(customer: int) -> Any:
        code = fake_spotify.issue_code(user, settings.spotify.redirect_uri or "")
        return complete_link(settings, sign_state(settings, customer), code)

    link(first)
    with pytest.raises(LinkRefusedError) as refused:
        link(second)
    assert refused.value.status == 409 and "another customer" in refused.value.title
    assert {r["customer_pk"] for r in links(engine).values()} == {first}

    unlink_spotify(settings, first)
    assert link(second).customer_pk == second
    sources = table(CustomerSource)
    with engine.connect() as conn:
        row = conn.execute(sa.select(sources).where(sources.c.source == "spotify")).mappings().one()
    assert (row["customer_pk"], row["deleted"]) == (second, False)
    assert find_customer(engine, pk=first)["picture"] is None  # type: ignore[index]
    assert find_customer(engine, pk=second)["picture"] == user.profile["images"][0]["url"]  # type: ignore[index]
