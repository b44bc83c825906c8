"""OAuth rooms of the API: linking a customer's Spotify account."""

from __future__ import annotations

from api.oauth.spotify import router as spotify_router

__all__ = ["spotify_router"]
