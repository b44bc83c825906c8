"""A Spotify profile, as the fixtures give it, mapped onto the customer fields."""

from __future__ import annotations

import pytest

from connectors import SourceRecord
from connectors.spotify import LINKED_LOYALTY_ID
from sync.mapping import SPOTIFY_SPEC, Draft, map_record
from sync.mapping.spotify import largest_image, split_display_name
from tests.fakes.spotify import fixture


def mapped(profile: dict[str, object]) -> Draft:
    draft = map_record(SourceRecord("acc", {**profile, LINKED_LOYALTY_ID: "LD0001"}), SPOTIFY_SPEC)
    assert isinstance(draft, Draft), draft
    return draft


def test_a_full_profile_maps_name_email_country_picture_and_extras() -> None:
    profile = fixture("me_current_user_profile.json")
    draft = mapped(profile)
    assert draft.fields == {
        "firstname": "JM",
        "lastname": "Wizzler",
        "email": "email@example.com",
        "country": "SE",
        "picture": profile["images"][0]["url"],
        "loyalty_id": "LD0001",
    }
    assert draft.extra_info == {
        "spotify": {
            "product": "premium",
            "followers": 3829,
            "profileUrl": "https://open.spotify.com/user/wizzler",
        }
    }
    assert not draft.warnings


def test_a_development_mode_profile_has_no_email_country_or_picture() -> None:
    draft = mapped(fixture("synthetic/me_2026_devmode_minimal.json"))
    assert draft.fields == {"firstname": "JM", "lastname": "Wizzler", "loyalty_id": "LD0001"}
    assert draft.extra_info == {"spotify": {"profileUrl": "https://open.spotify.com/user/wizzler"}}


def test_an_unusable_email_is_dropped_with_a_warning_not_the_profile() -> None:
    # The 2026 fixture's address is on the reserved .test domain, which no mailbox can have.
    draft = mapped(fixture("synthetic/me_2026_with_account_id_full.json"))
    assert "email" not in draft.fields and draft.fields["country"] == "SE"
    assert [(w.reason, w.field) for w in draft.warnings] == [("invalid_email", "email")]


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("JM Wizzler", ("JM", "Wizzler")),
        ("  Ludwig van  Beethoven ", ("Ludwig", "van Beethoven")),
        ("wizzler", ("wizzler", "")),
        (None, ("", "")),
        ("", ("", "")),
    ],
)
def test_display_names_split_on_the_first_space(name: str | None, split: tuple[str, str]) -> None:
    assert split_display_name(name) == split


def test_the_largest_image_wins_and_unsized_ones_keep_their_order() -> None:
    images = [
        {"url": "small", "width": 64, "height": 64},
        {"url": "big", "width": 640, "height": 640},
        {"url": "medium", "width": 300, "height": 300},
    ]
    assert largest_image(images) == "big"
    assert largest_image([{"url": "a", "width": None, "height": None}, {"url": "b"}]) == "a"
    assert largest_image([]) is None and largest_image(None) is None
