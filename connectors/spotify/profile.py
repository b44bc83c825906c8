"""What the Spotify stream's raw records carry besides the profile, and how a profile is keyed."""

from __future__ import annotations

from typing import Any

# The raw-record key that carries the linked customer's loyalty id, so the record joins the
# customer who linked the account (not whoever else holds the profile's e-mail).
LINKED_LOYALTY_ID = "linked_loyalty_id"


def profile_source_id(profile: dict[str, Any]) -> str:
    """The entity source id of a profile: its stable `account_id`, else the older `id`."""
    return str(profile.get("account_id") or profile["id"])
