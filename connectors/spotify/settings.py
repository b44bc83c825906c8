"""Spotify settings (env prefix SPOTIFY_): the app's credentials, scopes, endpoints and limits."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# What the profile refresh reads: e-mail (when granted) and country/product/images.
DEFAULT_SCOPES = "user-read-email user-read-private"


class SpotifySettings(BaseSettings):
    """The Spotify app this deployment links customers through."""

    # An empty variable (a blank left in a `.env` or a template) means unset: the default.
    model_config = SettingsConfigDict(
        env_prefix="SPOTIFY_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    client_id: str | None = None
    client_secret: SecretStr | None = None
    redirect_uri: str | None = Field(
        default=None, description="Where Spotify sends the customer back: this API's /callback/spotify."
    )
    scopes: str = Field(default=DEFAULT_SCOPES, description="Space- or comma-separated scopes.")
    api_url: str = "https://api.spotify.com"
    accounts_url: str = "https://accounts.spotify.com"
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # Refresh an access token this long before it expires, so no call meets an expired one.
    refresh_margin_seconds: int = Field(default=300, ge=0)
    # 5xx and dropped connections: tries per call, with capped backoff between them.
    retry_attempts: int = Field(default=3, ge=1)
    retry_initial_wait_seconds: float = Field(default=0.5, ge=0)
    retry_max_wait_seconds: float = Field(default=5.0, ge=0)
    # A 429 without a usable Retry-After defers the account this long.
    default_retry_after_seconds: int = Field(default=60, ge=1)
    # This many 429s in a row mean the app, not one account, is limited: the run pauses.
    rate_limit_pause_after: int = Field(default=5, ge=1)
    # Linked accounts per refresh task (and run) when the worker fans a refresh out.
    batch_size: int = Field(default=500, ge=1, le=5000)
    state_ttl_seconds: int = Field(default=600, ge=30, description="How long a connect attempt may take.")
    link_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="How long a connect link sent to a customer stays valid."
    )

    @field_validator("scopes")
    @classmethod
    def _one_space_separated(cls, value: str) -> str:
        return " ".join(sorted({s for s in value.replace(",", " ").split() if s}))

    @field_validator("api_url", "accounts_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def configured(self) -> bool:
        """Whether the app credentials needed to link and refresh are all set."""
        return bool(self.client_id and self.client_secret and self.redirect_uri)
