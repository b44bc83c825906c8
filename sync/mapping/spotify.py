"""The Spotify profile as customer fields: name split, e-mail when granted, country, picture, extras."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.spotify import LINKED_LOYALTY_ID
from sync.mapping.spec import MappingSpec


def split_display_name(name: str | None) -> tuple[str, str]:
    """First word as first name, the rest as last name ("Ludwig van Beethoven" -> Ludwig / van Beethoven)."""
    words = (name or "").split()
    if not words:
        return "", ""
    return words[0], " ".join(words[1:])


def largest_image(images: Any) -> str | None:
    """The URL of the biggest image; sizes may be null (then the first listed wins)."""
    if not isinstance(images, list):
        return None
    best: tuple[int, int] | None = None
    url: str | None = None
    for index, image in enumerate(images):
        if not isinstance(image, dict) or not image.get("url"):
            continue
        area = int(image.get("width") or 0) * int(image.get("height") or 0)
        rank = (area, -index)
        if best is None or rank > best:
            best, url = rank, str(image["url"])
    return url


def spotify_profile_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a `/v1/me` answer into the columns `SPOTIFY_SPEC` maps; the rest is dropped."""
    firstname, lastname = split_display_name(raw.get("display_name"))
    followers = raw.get("followers")
    urls = raw.get("external_urls")
    extra = {
        "product": raw.get("product"),
        "followers": followers.get("total") if isinstance(followers, dict) else None,
        "profileUrl": urls.get("spotify") if isinstance(urls, dict) else None,
    }
    fields: dict[str, Any] = {
        "firstname": firstname,
        "lastname": lastname,
        # Deprecated by Spotify and absent without user-read-email (or in development mode).
        "email": raw.get("email"),
        "country": raw.get("country"),
        "picture": largest_image(raw.get("images")),
        "loyaltyId": raw.get(LINKED_LOYALTY_ID),
    }
    # One key in extraInfo, so Spotify's facts never collide with another source's.
    known = {k: v for k, v in extra.items() if v is not None}
    if known:
        fields["spotify"] = known
    return fields


SPOTIFY_SPEC = MappingSpec(
    kind="customers",
    fields={
        "firstname": ["firstname"],
        "lastname": ["lastname"],
        "email": ["email"],
        "country": ["country"],
        "picture": ["picture"],
        "loyaltyId": ["loyaltyId"],
    },
    prepare=spotify_profile_fields,
    # Spotify does not verify e-mails: a malformed one is dropped, the profile kept.
    lenient=frozenset({"email"}),
)
