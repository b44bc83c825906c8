"""The Spotify connector: linked accounts' profiles through spotipy, tokens encrypted at rest."""

from __future__ import annotations

from connectors.spotify.client import (
    AuthorizationCodeError,
    InteractivePromptError,
    InvalidClientError,
    RateLimited,
    SpotifyClient,
    SpotifyError,
    SpotifyUnavailableError,
    TokenRevoked,
    TokenSet,
    retry_after_seconds,
)
from connectors.spotify.settings import SpotifySettings
from connectors.spotify.stream import (
    LINKED_LOYALTY_ID,
    LinkedAccount,
    LinkStore,
    ProfilesStream,
    profile_source_id,
)
from connectors.spotify.tokens import TokenCipher, TokenKeyError

__all__ = [
    "LINKED_LOYALTY_ID",
    "AuthorizationCodeError",
    "InteractivePromptError",
    "InvalidClientError",
    "LinkStore",
    "LinkedAccount",
    "ProfilesStream",
    "RateLimited",
    "SpotifyClient",
    "SpotifyError",
    "SpotifySettings",
    "SpotifyUnavailableError",
    "TokenCipher",
    "TokenKeyError",
    "TokenRevoked",
    "TokenSet",
    "profile_source_id",
    "retry_after_seconds",
]
