"""The Spotify connector: linked accounts' profiles through spotipy, tokens encrypted at rest."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from connectors.spotify.profile import LINKED_LOYALTY_ID, profile_source_id
from connectors.spotify.settings import SpotifySettings
from connectors.spotify.tokens import TokenCipher, TokenKeyError

if TYPE_CHECKING:
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
    from connectors.spotify.stream import LinkedAccount, LinkStore, ProfilesStream

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

# spotipy (and requests) load on first use: every command reads the settings, few touch Spotify.
_LAZY = {
    **dict.fromkeys(
        (
            "AuthorizationCodeError",
            "InteractivePromptError",
            "InvalidClientError",
            "RateLimited",
            "SpotifyClient",
            "SpotifyError",
            "SpotifyUnavailableError",
            "TokenRevoked",
            "TokenSet",
            "retry_after_seconds",
        ),
        "client",
    ),
    **dict.fromkeys(("LinkedAccount", "LinkStore", "ProfilesStream"), "stream"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"connectors.spotify.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
