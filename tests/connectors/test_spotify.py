"""The Spotify connector against the fake: linking, refresh, faults, no prompt, no secret logged."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet

from connectors.base import FatalSourceError, SourceRecord, SourceWarning, StreamContext
from connectors.spotify import (
    AuthorizationCodeError,
    InteractivePromptError,
    InvalidClientError,
    LinkedAccount,
    ProfilesStream,
    RateLimited,
    SpotifyClient,
    SpotifySettings,
    SpotifyUnavailableError,
    TokenCipher,
    TokenKeyError,
    TokenRevoked,
    TokenSet,
    retry_after_seconds,
)
from tests.fakes import spotify
from tests.fakes.spotify import FakeSpotify, FakeUser

fake_spotify = spotify.fake_spotify
REPO = Path(__file__).resolve().parents[2]


def tokens_for(fake: FakeSpotify, user: FakeUser, expires_in: int = 3600) -> TokenSet:
    issued = fake.issue_tokens(user, expires_in=expires_in)
    return TokenSet(
        issued["access_token"],
        issued["refresh_token"],
        datetime.now(UTC) + timedelta(seconds=expires_in),
        issued["scope"],
    )


def link_code(fake: FakeSpotify, client: SpotifyClient, state: str = "st") -> str:
    answer = requests.get(client.authorize_url(state), allow_redirects=False, timeout=5)
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


@pytest.fixture
def client(fake_spotify: FakeSpotify) -> Iterable[SpotifyClient]:
    with SpotifyClient(fake_spotify.settings()) as c:
        yield c


def test_settings_read_the_spotify_prefix_with_spotifys_urls_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "abc")
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "shh")
    monkeypatch.setenv("SPOTIFY_SCOPES", "user-read-private,user-read-email")
    s = SpotifySettings(_env_file=None)  # type: ignore[call-arg]
    assert (s.client_id, s.client_secret.get_secret_value() if s.client_secret else None) == ("abc", "shh")
    assert "shh" not in repr(s)
    assert s.scopes == "user-read-email user-read-private"
    assert (s.api_url, s.accounts_url) == ("https://api.spotify.com", "https://accounts.spotify.com")
    assert not s.configured


def test_an_unconfigured_client_says_what_to_set() -> None:
    with pytest.raises(
        FatalSourceError, match="SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET and SPOTIFY_REDIRECT_URI"
    ):
        SpotifyClient(SpotifySettings(_env_file=None))  # type: ignore[call-arg]


def test_authorize_url_carries_the_state_and_scopes(fake_spotify: FakeSpotify, client: SpotifyClient) -> None:
    url = client.authorize_url("signed-state")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake_spotify.url}/authorize"
    query = parse_qs(parts.query)
    assert query["state"] == ["signed-state"] and query["client_id"] == [fake_spotify.client_id]
    assert query["scope"] == ["user-read-email user-read-private"]


def test_code_exchange_gives_tokens_that_read_the_profile(
    fake_spotify: FakeSpotify, client: SpotifyClient
) -> None:
    user = fake_spotify.add_user()
    tokens = client.exchange_code(link_code(fake_spotify, client))
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)
    assert tokens.scope == "user-read-email user-read-private"
    assert tokens.expires_at > datetime.now(UTC) + timedelta(minutes=59)
    assert client.current_user(tokens)["account_id"] == user.key


def test_a_used_or_unknown_code_is_refused(fake_spotify: FakeSpotify, client: SpotifyClient) -> None:
    fake_spotify.add_user()
    code = link_code(fake_spotify, client)
    client.exchange_code(code)
    with pytest.raises(AuthorizationCodeError, match="invalid_grant"):
        client.exchange_code(code)


def test_refresh_keeps_the_old_refresh_token_when_none_comes_back(
    fake_spotify: FakeSpotify, client: SpotifyClient
) -> None:
    tokens = tokens_for(fake_spotify, fake_spotify.add_user(), expires_in=10)
    fresh = client.refresh(tokens)
    assert fresh.refresh_token == tokens.refresh_token and fresh.access_token != tokens.access_token
    fake_spotify.rotate_refresh_tokens = True
    rotated = client.refresh(fresh)
    assert rotated.refresh_token != tokens.refresh_token


def test_tokens_are_refreshed_before_they_expire(fake_spotify: FakeSpotify, client: SpotifyClient) -> None:
    user = fake_spotify.add_user()
    lasting, expiring = tokens_for(fake_spotify, user), tokens_for(fake_spotify, user, expires_in=120)
    assert client.fresh(lasting) is lasting
    assert not fake_spotify.requests_to("/api/token")
    profile, used = client.profile(expiring)
    assert used is not expiring and profile["account_id"] == user.key
    assert len(fake_spotify.requests_to("/api/token")) == 1


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(
    fake_spotify: FakeSpotify, client: SpotifyClient
) -> None:
    user = fake_spotify.add_user()
    tokens = tokens_for(fake_spotify, user)
    fake_spotify.expire_access_tokens()  # Spotify expired it early; our clock thinks it is good
    profile, used = client.profile(tokens)
    assert profile["account_id"] == user.key and used.access_token != tokens.access_token


def test_429_raises_at_once_with_retry_after_and_no_retry(
    fake_spotify: FakeSpotify, client: SpotifyClient
) -> None:
    tokens = tokens_for(fake_spotify, fake_spotify.add_user())
    fake_spotify.fail_next("/v1/me", "rate_limited", times=None, retry_after=30)
    started = time.monotonic()
    with pytest.raises(RateLimited) as limited:
        client.profile(tokens)
    assert limited.value.retry_after_seconds == 30
    assert time.monotonic() - started < 5
    assert len(fake_spotify.requests_to("/v1/me")) == 1  # spotipy's retry adapter never ran


def test_429_on_the_token_endpoint_is_rate_limited_too(
    fake_spotify: FakeSpotify, client: SpotifyClient
) -> None:
    tokens = tokens_for(fake_spotify, fake_spotify.add_user(), expires_in=5)
    fake_spotify.fail_next("/api/token", "rate_limited", retry_after=7)
    with pytest.raises(RateLimited) as limited:
        client.profile(tokens)
    assert limited.value.retry_after_seconds == 7


def test_revoked_refresh_token_is_token_revoked(fake_spotify: FakeSpotify, client: SpotifyClient) -> None:
    user = fake_spotify.add_user()
    tokens = tokens_for(fake_spotify, user, expires_in=5)
    fake_spotify.revoke(user)
    with pytest.raises(TokenRevoked, match="Refresh token revoked"):
        client.profile(tokens)


def test_wrong_app_credentials_are_a_fatal_configuration_error(fake_spotify: FakeSpotify) -> None:
    tokens = tokens_for(fake_spotify, fake_spotify.add_user(), expires_in=5)
    with (
        SpotifyClient(fake_spotify.settings(client_secret="not-the-secret")) as wrong,
        pytest.raises(InvalidClientError) as refused,
    ):
        wrong.profile(tokens)
    assert isinstance(refused.value, FatalSourceError) and "not-the-secret" not in str(refused.value)


def test_5xx_is_retried_a_bounded_number_of_times(fake_spotify: FakeSpotify, client: SpotifyClient) -> None:
    user = fake_spotify.add_user()
    tokens = tokens_for(fake_spotify, user)
    fake_spotify.fail_next("/v1/me", "server_error", status=502)
    assert client.current_user(tokens)["account_id"] == user.key
    fake_spotify.fail_next("/v1/me", "server_error", times=None, status=503)
    before = len(fake_spotify.requests_to("/v1/me"))
    with pytest.raises(SpotifyUnavailableError):
        client.current_user(tokens)
    assert len(fake_spotify.requests_to("/v1/me")) - before == client.settings.retry_attempts


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after_seconds("12", 60) == 12
    assert retry_after_seconds(None, 60) == 60
    assert retry_after_seconds("soon", 60) == 60
    assert 1 <= retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 60) <= 1  # in the past: at least 1s


def test_spotipy_interactive_fallback_is_shut(client: SpotifyClient) -> None:
    # What spotipy does when no token is cached or its scope differs: ask on stdin.
    with pytest.raises(InteractivePromptError):
        client._oauth.get_access_token(as_dict=False)


def test_nothing_prompts_even_when_stdin_would_block(fake_spotify: FakeSpotify, tmp_path: Path) -> None:
    """Every path the sync uses, in a process whose stdin is an open pipe nobody writes to."""
    user = fake_spotify.add_user()
    issued = fake_spotify.issue_tokens(
        user, scope="user-read-private", expires_in=5
    )  # narrower scope, expiring
    script = textwrap.dedent(
        f"""
        import sys
        from datetime import UTC, datetime, timedelta
        from connectors.spotify import SpotifyClient, SpotifySettings, TokenSet, InteractivePromptError
        settings = SpotifySettings(client_id={fake_spotify.client_id!r}, client_secret={fake_spotify.client_secret!r},
            redirect_uri="http://127.0.0.1:9/cb", api_url={fake_spotify.url!r}, accounts_url={fake_spotify.url!r})
        client = SpotifyClient(settings)
        tokens = TokenSet({issued["access_token"]!r}, {issued["refresh_token"]!r},
            datetime.now(UTC) + timedelta(seconds=5), "user-read-private")
        profile, used = client.profile(tokens)
        try:
            client._oauth.get_access_token(as_dict=False)
        except InteractivePromptError:
            print("refused-prompt")
        print(profile["account_id"])
        """
    )
    # stdin stays an open pipe until the process ends: an input() would block, not fail.
    out_file, err_file = tmp_path / "out", tmp_path / "err"
    with out_file.open("w") as out_w, err_file.open("w") as err_w:
        proc = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=out_w,
            stderr=err_w,
            text=True,
        )
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("the client blocked waiting for input")
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
    out, err = out_file.read_text(), err_file.read_text()
    assert proc.returncode == 0, err
    assert out.split()[-2:] == ["refused-prompt", user.key]
    assert "Enter the URL" not in out + err


def test_no_token_or_secret_reaches_any_log(
    fake_spotify: FakeSpotify,
    client: SpotifyClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    user = fake_spotify.add_user()
    tokens = client.exchange_code(link_code(fake_spotify, client))
    fresh = client.refresh(tokens)
    client.profile(fresh)
    fake_spotify.fail_next("/v1/me", "rate_limited")
    with pytest.raises(RateLimited):
        client.current_user(fresh)
    fake_spotify.revoke(user)
    with pytest.raises(TokenRevoked):
        client.refresh(fresh)
    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err
    secrets = [tokens.access_token, tokens.refresh_token, fresh.access_token, fake_spotify.client_secret]
    assert not [s for s in secrets if s in text]


# --- the stream --------------------------------------------------------------------------


@dataclass
class MemoryLinks:
    """An in-memory LinkStore: what the stream reports, kept for the test to read."""

    links: list[LinkedAccount]
    saved: dict[int, TokenSet] = field(default_factory=dict)
    revoked: list[int] = field(default_factory=list)
    deferred: dict[int, datetime] = field(default_factory=dict)
    cleared: list[int] = field(default_factory=list)

    def due(self, now: datetime, after_link_id: int) -> Iterable[LinkedAccount]:
        return [link for link in self.links if link.link_id > after_link_id]

    def save_tokens(self, link_id: int, tokens: TokenSet) -> None:
        self.saved[link_id] = tokens

    def mark_revoked(self, link_id: int) -> None:
        self.revoked.append(link_id)

    def defer(self, link_id: int, until: datetime) -> None:
        self.deferred[link_id] = until

    def clear_deferral(self, link_id: int) -> None:
        self.cleared.append(link_id)


def test_stream_reads_profiles_and_reports_each_outcome(
    fake_spotify: FakeSpotify, client: SpotifyClient
) -> None:
    users = [
        fake_spotify.add_user(),
        fake_spotify.add_user("legacy"),
        fake_spotify.add_user(),
        fake_spotify.add_user(),
    ]
    links = [
        LinkedAccount(1, users[0].key, tokens_for(fake_spotify, users[0]), "LOY1", datetime.now(UTC)),
        LinkedAccount(2, users[1].key, tokens_for(fake_spotify, users[1], expires_in=30), "LOY2"),
        LinkedAccount(3, users[2].key, tokens_for(fake_spotify, users[2], expires_in=30), "LOY3"),
        LinkedAccount(4, users[3].key, tokens_for(fake_spotify, users[3]), "LOY4"),
        LinkedAccount(5, users[0].key, tokens_for(fake_spotify, users[0]), "LOY5"),
    ]
    fake_spotify.revoke(users[2])
    store = MemoryLinks(links)
    # The third /v1/me call (link 4's; link 3 fails at its refresh) meets a 429.
    rate_limit_fourth = fake_spotify.fail_next(
        lambda r: r.path.startswith("/v1/me") and len(fake_spotify.requests_to("/v1/me")) == 2,
        "rate_limited",
        retry_after=120,
    )
    stream = ProfilesStream(client, store)
    items = list(stream.records(StreamContext()))

    records = [i for i in items if isinstance(i, SourceRecord)]
    warnings = [i for i in items if isinstance(i, SourceWarning)]
    assert [r.source_id for r in records] == [users[0].key, users[1].key]
    assert records[0].fields["linked_loyalty_id"] == "LOY1" and records[0].fields["email"]
    assert records[1].source_id == users[1].profile["id"]  # no account_id: keyed by id
    assert [(w.reason, w.source_id) for w in warnings] == [
        ("token_revoked", users[2].key),
        ("rate_limited", users[3].key),
        ("rate_limited", users[0].key),  # not tried while Retry-After runs
    ]
    assert store.revoked == [3] and set(store.deferred) == {4, 5} and store.cleared == [1]
    assert set(store.saved) == {2}  # refreshed before expiry and kept at once
    assert stream.deferred_until and stream.deferred_until > datetime.now(UTC) + timedelta(seconds=100)
    assert stream.checkpoint() == {"after_link": 5}
    assert rate_limit_fourth.times == 0
    assert len(fake_spotify.requests_to("/v1/me")) == 3  # link 5 never called


def test_stream_resumes_after_its_checkpoint(fake_spotify: FakeSpotify, client: SpotifyClient) -> None:
    users = [fake_spotify.add_user() for _ in range(3)]
    store = MemoryLinks(
        [LinkedAccount(i + 1, u.key, tokens_for(fake_spotify, u)) for i, u in enumerate(users)]
    )
    items = list(ProfilesStream(client, store).records(StreamContext(checkpoint={"after_link": 2})))
    assert [i.source_id for i in items] == [users[2].key]


# --- tokens at rest ----------------------------------------------------------------------


def test_tokens_are_encrypted_and_keys_rotate() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher.from_setting(old).encrypt("AQ-refresh-token")
    assert "AQ-refresh-token" not in stored
    both = TokenCipher.from_setting(f"{new},{old}")
    assert both.decrypt(stored) == "AQ-refresh-token"
    rotated = both.rotate(stored)
    assert TokenCipher.from_setting(new).decrypt(rotated) == "AQ-refresh-token"
    with pytest.raises(TokenKeyError, match="none of the keys"):
        TokenCipher.from_setting(new).decrypt(stored)


def test_a_missing_or_malformed_key_is_one_clear_line() -> None:
    with pytest.raises(TokenKeyError, match="not set"):
        TokenCipher.from_setting(None)
    with pytest.raises(TokenKeyError, match="key 2 is not a Fernet key") as bad:
        TokenCipher.from_setting(f"{Fernet.generate_key().decode()},not-a-key-at-all")
    assert "not-a-key-at-all" not in str(bad.value)


def test_refreshed_tokens_are_handed_over_even_when_the_read_then_fails(
    fake_spotify: FakeSpotify, client: SpotifyClient
) -> None:
    fake_spotify.rotate_refresh_tokens = True  # the old refresh token dies with its use
    tokens = tokens_for(fake_spotify, fake_spotify.add_user(), expires_in=10)
    kept: list[TokenSet] = []
    fake_spotify.fail_next("/v1/me", "rate_limited", retry_after=30)
    with pytest.raises(RateLimited):
        client.profile(tokens, on_refresh=kept.append)
    assert len(kept) == 1 and kept[0].refresh_token != tokens.refresh_token
    assert client.profile(kept[0])[0]["account_id"]  # the kept tokens carry on
