"""Spotify through spotipy: authorize URL, code exchange, token refresh and /v1/me; never a prompt."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
import structlog
from spotipy import Spotify, SpotifyException
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyOAuth, SpotifyOauthError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from connectors.base import FatalSourceError
from connectors.spotify.settings import SpotifySettings

log = structlog.get_logger("connectors.spotify")

T = TypeVar("T")

# spotipy logs request headers (Bearer and Basic credentials) and token-request bodies (codes,
# refresh tokens) at DEBUG, and repeats every HTTP error as plain text at ERROR. This module
# logs each outcome itself, without secrets, so spotipy's own lines are kept out of any handler.
logging.getLogger("spotipy").setLevel(logging.CRITICAL + 1)


class SpotifyError(Exception):
    """Spotify refused or failed a call for one account; the message holds no secret."""


class RateLimited(SpotifyError):  # noqa: N818 - a signal to come back later, named as such
    """A 429: come back after `retry_after_seconds`, never sleep it out here."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"Spotify rate limit: retry after {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class TokenRevoked(SpotifyError):  # noqa: N818 - names what the customer did
    """`invalid_grant` on refresh: the customer revoked access (or the token expired for good)."""


class AuthorizationCodeError(SpotifyError):
    """The authorization code was refused (unknown, expired, used, or for another redirect URI)."""


class SpotifyUnavailableError(SpotifyError):
    """5xx or no answer, still so after the bounded retries."""


class InvalidClientError(FatalSourceError):
    """`invalid_client`: SPOTIFY_CLIENT_ID/SPOTIFY_CLIENT_SECRET are wrong; no account can be read."""


class InteractivePromptError(RuntimeError):
    """spotipy tried to ask a person (browser, stdin); a worker never does that."""


class _UnauthorizedError(SpotifyError):
    """A 401 from the Web API: the access token expired or was revoked early."""


@dataclass(frozen=True, slots=True)
class TokenSet:
    """One account's tokens; the tokens themselves never show in a repr or a log line."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scope: str = ""

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        return self.expires_at - (now or datetime.now(UTC)) <= timedelta(seconds=seconds)


class _NoPromptOAuth(SpotifyOAuth):  # type: ignore[misc]
    """spotipy's authorization-code manager with its interactive fallbacks shut.

    spotipy asks for a redirect URL on stdin (or opens a browser and a local server) whenever
    `get_access_token` finds no cached token, or one whose scope differs from the requested one.
    This client only calls the explicit paths (code given, refresh token given), and these
    overrides make any other path fail at once instead of blocking a worker on `input()`.
    """

    def __init__(self, *, authorize_url: str, token_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.OAUTH_AUTHORIZE_URL = authorize_url
        self.OAUTH_TOKEN_URL = token_url

    def get_auth_response(self, open_browser: bool | None = None) -> str:
        raise InteractivePromptError("spotipy asked for an interactive login; the sync never prompts")

    def _open_auth_url(self) -> None:
        raise InteractivePromptError("spotipy tried to open a browser; the sync never prompts")

    @staticmethod
    def _get_user_input(prompt: str) -> str:
        raise InteractivePromptError("spotipy tried to read stdin; the sync never prompts")

    def _add_custom_values_to_token_info(self, token_info: dict[str, Any]) -> dict[str, Any]:
        # spotipy overwrites the granted scope with the requested one; keep what Spotify granted,
        # since a customer may grant less (and the e-mail then is not ours to read).
        token_info["expires_at"] = int(time.time()) + int(token_info["expires_in"])
        token_info["scope"] = token_info.get("scope") or self.scope or ""
        return token_info


def retry_after_seconds(value: str | None, default: int) -> int:
    """Retry-After as whole seconds (delta-seconds or an HTTP date), at least 1."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return max(1, int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(1, int((when - datetime.now(UTC)).total_seconds() + 0.999))


class SpotifyClient:
    """The app's side of Spotify: links accounts and reads their profiles, one call at a time."""

    def __init__(self, settings: SpotifySettings, session: requests.Session | None = None) -> None:
        if not settings.configured:
            raise FatalSourceError(
                "Spotify is not configured: set SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET and SPOTIFY_REDIRECT_URI"
            )
        assert settings.client_secret is not None
        self.settings = settings
        # A plain session: its adapter never retries, so a 429 comes back to us at once instead
        # of being slept out by urllib3 (spotipy mounts such a retry adapter on sessions it builds).
        self.http = session or requests.Session()
        self._oauth = _NoPromptOAuth(
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            redirect_uri=settings.redirect_uri,
            scope=settings.scopes,
            requests_session=self.http,
            requests_timeout=settings.request_timeout_seconds,
            open_browser=False,
            cache_handler=MemoryCacheHandler(),
            authorize_url=f"{settings.accounts_url}/authorize",
            token_url=f"{settings.accounts_url}/api/token",
        )
        # Given our session, spotipy builds no retry adapter; retries=0 says so twice.
        self._api = Spotify(
            requests_session=self.http,
            retries=0,
            status_retries=0,
            requests_timeout=settings.request_timeout_seconds,
        )
        self._api.prefix = f"{settings.api_url}/v1/"
        self._retrying = Retrying(
            retry=retry_if_exception_type(SpotifyUnavailableError),
            stop=stop_after_attempt(settings.retry_attempts),
            wait=wait_exponential_jitter(
                multiplier=settings.retry_initial_wait_seconds,
                max=settings.retry_max_wait_seconds,
                jitter=settings.retry_initial_wait_seconds,
            ),
            before_sleep=self._log_retry,
            reraise=True,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SpotifyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- linking ---------------------------------------------------------------------------

    def authorize_url(self, state: str) -> str:
        """Spotify's consent page for this app, carrying our `state`."""
        return str(self._oauth.get_authorize_url(state=state))

    def exchange_code(self, code: str) -> TokenSet:
        """The tokens for an authorization code from the callback."""

        def exchange() -> TokenSet:
            self._oauth.cache_handler.save_token_to_cache(None)
            # as_dict=False: the dict form is deprecated; the full answer lands in the cache.
            self._oauth.get_access_token(code=code, as_dict=False, check_cache=False)
            return self._tokens_from(self._oauth.cache_handler.get_cached_token(), None)

        try:
            return self._token_call("exchange", exchange)
        except TokenRevoked as exc:
            raise AuthorizationCodeError(str(exc)) from None

    # --- refreshing ------------------------------------------------------------------------

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """New tokens; an answer without a refresh token keeps the old one."""

        def refresh() -> TokenSet:
            info = self._oauth.refresh_access_token(tokens.refresh_token)
            return self._tokens_from(info, tokens)

        fresh = self._token_call("refresh", refresh)
        log.info("spotify.token_refreshed", expires_at=fresh.expires_at.isoformat())
        return fresh

    def fresh(self, tokens: TokenSet, now: datetime | None = None) -> TokenSet:
        """`tokens` if they outlive the refresh margin, else refreshed ones."""
        if tokens.expires_within(self.settings.refresh_margin_seconds, now):
            return self.refresh(tokens)
        return tokens

    # --- reading ---------------------------------------------------------------------------

    def current_user(self, tokens: TokenSet) -> dict[str, Any]:
        """`/v1/me` for these tokens, as Spotify sent it."""

        def me() -> dict[str, Any]:
            self._api.set_auth(tokens.access_token)
            try:
                profile = self._api.me()
            finally:
                self._api.set_auth(None)
            if not isinstance(profile, dict) or not (profile.get("account_id") or profile.get("id")):
                raise SpotifyError("Spotify answered /v1/me without a user id")
            return profile

        return self._retrying(self._api_call, "me", me)

    def profile(
        self,
        tokens: TokenSet,
        now: datetime | None = None,
        on_refresh: Callable[[TokenSet], None] | None = None,
    ) -> tuple[dict[str, Any], TokenSet]:
        """The profile, refreshing before expiry and once more on a 401; returns the tokens used.

        `on_refresh` gets new tokens the moment they exist, before the profile is read: a
        rotated refresh token must be stored even when the read then fails (a 429, say).
        """
        current = self.fresh(tokens, now)
        if current is not tokens and on_refresh is not None:
            on_refresh(current)
        try:
            return self.current_user(current), current
        except _UnauthorizedError:
            # Expired early (or clocks disagree): one refresh, one more try.
            log.info("spotify.unauthorized_refreshing")
            current = self.refresh(current)
            if on_refresh is not None:
                on_refresh(current)
            try:
                return self.current_user(current), current
            except _UnauthorizedError as exc:
                raise SpotifyError(f"Spotify refused a fresh access token: {exc}") from None

    # --- error mapping ---------------------------------------------------------------------

    def _token_call(self, what: str, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return fn()
            except SpotifyOauthError as exc:
                raise self._token_error(what, exc) from None
            except requests.RequestException as exc:
                raise SpotifyUnavailableError(
                    f"Spotify accounts service ({what}): {type(exc).__name__}"
                ) from None

        return self._retrying(attempt)

    def _token_error(self, what: str, exc: SpotifyOauthError) -> Exception:
        # spotipy raises inside its `except HTTPError`, so the answer's status and headers are
        # on the exception's context.
        response = getattr(exc.__context__, "response", None)
        status = getattr(response, "status_code", None)
        if status == 429:
            headers = getattr(response, "headers", {}) or {}
            default = self.settings.default_retry_after_seconds
            return RateLimited(retry_after_seconds(headers.get("Retry-After"), default))
        if status is not None and status >= 500:
            return SpotifyUnavailableError(f"Spotify accounts service ({what}) answered {status}")
        error = str(exc.error or "")
        description = str(exc.error_description or "")[:200]
        if error == "invalid_client":
            return InvalidClientError(f"Spotify refused the app credentials (invalid_client): {description}")
        if error == "invalid_grant":
            return TokenRevoked(f"Spotify refused the grant (invalid_grant): {description}")
        return SpotifyError(
            f"Spotify accounts service ({what}) answered {status}: {error[:100]} {description}"
        )

    def _api_call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except SpotifyException as exc:
            status = int(exc.http_status)
            if status == 429:
                default = self.settings.default_retry_after_seconds
                raise RateLimited(
                    retry_after_seconds((exc.headers or {}).get("Retry-After"), default)
                ) from None
            message = str(exc.msg or "").split("\n")[-1].strip()[:200]
            if status == 401:
                raise _UnauthorizedError(message) from None
            if status >= 500:
                raise SpotifyUnavailableError(f"Spotify /{what} answered {status}") from None
            raise SpotifyError(f"Spotify /{what} answered {status}: {message}") from None
        except requests.RequestException as exc:
            raise SpotifyUnavailableError(f"Spotify /{what}: {type(exc).__name__}") from None

    def _tokens_from(self, info: dict[str, Any] | None, previous: TokenSet | None) -> TokenSet:
        if not info or not info.get("access_token"):
            raise SpotifyError("Spotify's token answer carried no access token")
        refresh_token = info.get("refresh_token") or (previous.refresh_token if previous else None)
        if not refresh_token:
            raise SpotifyError("Spotify's token answer carried no refresh token")
        return TokenSet(
            access_token=str(info["access_token"]),
            refresh_token=str(refresh_token),
            expires_at=datetime.fromtimestamp(int(info["expires_at"]), UTC),
            scope=str(info.get("scope") or (previous.scope if previous else "")),
        )

    def _log_retry(self, state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "spotify.retry",
            attempt=state.attempt_number,
            error=str(exc),
            wait=round(state.next_action.sleep, 2) if state.next_action else None,
        )
