"""The fake Spotify speaks the fixtures' wire format to the real spotipy client, faults included."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyOAuth, SpotifyOauthError

from tests.fakes import spotify
from tests.fakes.spotify import FakeSpotify, fixture

fake_spotify = spotify.fake_spotify
REDIRECT = "http://127.0.0.1:9/callback/spotify"


def oauth(fake: FakeSpotify, scope: str = "user-read-email user-read-private") -> SpotifyOAuth:
    manager = SpotifyOAuth(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        redirect_uri=REDIRECT,
        scope=scope,
        open_browser=False,
        cache_handler=MemoryCacheHandler(),
    )
    manager.OAUTH_AUTHORIZE_URL = f"{fake.url}/authorize"
    manager.OAUTH_TOKEN_URL = f"{fake.url}/api/token"
    return manager


def api(fake: FakeSpotify, token: str) -> spotipy.Spotify:
    client = spotipy.Spotify(auth=token, requests_session=requests.Session(), retries=0)
    client.prefix = f"{fake.url}/v1/"
    return client


def consent(fake: FakeSpotify, manager: SpotifyOAuth, state: str = "s1") -> dict[str, list[str]]:
    answer = requests.get(manager.get_authorize_url(state=state), allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def test_authorization_code_flow_through_spotipy(fake_spotify: FakeSpotify) -> None:
    user = fake_spotify.add_user()
    manager = oauth(fake_spotify)
    query = consent(fake_spotify, manager, "state-123")
    assert query["state"] == ["state-123"]
    manager.get_access_token(code=query["code"][0], as_dict=False, check_cache=False)
    info = manager.cache_handler.get_cached_token()
    assert set(fixture("token_authorization_code.json")) <= set(info)
    assert api(fake_spotify, info["access_token"]).me()["account_id"] == user.key
    # A code is good once.
    with pytest.raises(SpotifyOauthError) as refused:
        manager.get_access_token(code=query["code"][0], as_dict=False, check_cache=False)
    assert refused.value.error == "invalid_grant"


def test_access_denied_redirects_with_the_error_and_state(fake_spotify: FakeSpotify) -> None:
    fake_spotify.add_user()
    fake_spotify.deny_consent = True
    query = consent(fake_spotify, oauth(fake_spotify), "s9")
    assert query == {"error": ["access_denied"], "state": ["s9"]}


def test_refresh_answer_has_no_refresh_token_as_the_fixture(fake_spotify: FakeSpotify) -> None:
    tokens = fake_spotify.issue_tokens(fake_spotify.add_user())
    answer = requests.post(
        f"{fake_spotify.url}/api/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(fake_spotify.client_id, fake_spotify.client_secret),
        timeout=5,
    )
    assert answer.status_code == 200
    assert set(answer.json()) == set(fixture("token_refresh.json"))
    # spotipy keeps the old refresh token when the answer has none.
    info = oauth(fake_spotify).refresh_access_token(tokens["refresh_token"])
    assert info["refresh_token"] == tokens["refresh_token"]


def test_revoked_and_bad_client_answer_the_fixture_errors(fake_spotify: FakeSpotify) -> None:
    user = fake_spotify.add_user()
    tokens = fake_spotify.issue_tokens(user)
    fake_spotify.revoke(user)
    with pytest.raises(SpotifyOauthError) as revoked:
        oauth(fake_spotify).refresh_access_token(tokens["refresh_token"])
    assert (revoked.value.error, revoked.value.error_description) == (
        "invalid_grant",
        "Refresh token revoked",
    )
    wrong = oauth(fake_spotify)
    wrong.client_secret = "not-the-secret"
    with pytest.raises(SpotifyOauthError) as bad_client:
        wrong.refresh_access_token(tokens["refresh_token"])
    assert bad_client.value.error == "invalid_client"


@pytest.mark.parametrize("path", ["me", "me/"])
def test_me_filters_by_scope_and_answers_both_paths(fake_spotify: FakeSpotify, path: str) -> None:
    user = fake_spotify.add_user()
    full = api(fake_spotify, fake_spotify.issue_tokens(user)["access_token"])._get(path)
    assert full["email"] == user.profile["email"] and full["country"] == "SE"
    bare = fake_spotify.issue_tokens(user, scope="")["access_token"]
    profile = api(fake_spotify, bare)._get(path)
    assert "email" not in profile and "country" not in profile and profile["account_id"] == user.key


def test_profiles_with_and_without_account_id_and_email(fake_spotify: FakeSpotify) -> None:
    legacy = fake_spotify.add_user("legacy")
    devmode = fake_spotify.add_user("devmode")
    assert "account_id" not in legacy.profile and legacy.key == legacy.profile["id"]
    me = api(fake_spotify, fake_spotify.issue_tokens(devmode)["access_token"]).me()
    assert "email" not in me and me["images"] == []


def test_web_api_faults(fake_spotify: FakeSpotify) -> None:
    user = fake_spotify.add_user()
    client = api(fake_spotify, fake_spotify.issue_tokens(user)["access_token"])
    fake_spotify.fail_next("/v1/me", "rate_limited", retry_after=17)
    with pytest.raises(spotipy.SpotifyException) as limited:
        client.me()
    assert limited.value.http_status == 429 and limited.value.headers["Retry-After"] == "17"
    fake_spotify.fail_next("/v1/me", "server_error", status=503)
    with pytest.raises(spotipy.SpotifyException) as unavailable:
        client.me()
    assert unavailable.value.http_status == 503
    fake_spotify.expire_access_tokens()
    with pytest.raises(spotipy.SpotifyException) as expired:
        client.me()
    assert expired.value.http_status == 401 and "expired" in expired.value.msg
    fake_spotify.fail_next("/v1/me", "reset")
    with pytest.raises(requests.ConnectionError):
        client.me()
