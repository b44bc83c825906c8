"""CI's hypothesis profile draws the same examples on every run and reads no saved failures."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import hypothesis_profile


def test_ci_selects_the_ci_profile_and_a_named_profile_wins() -> None:
    assert hypothesis_profile({"CI": "true"}) == "ci"
    assert hypothesis_profile({}) == "dev"
    assert hypothesis_profile({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}) == "dev"


def test_the_ci_profile_draws_the_same_examples_each_run_without_an_example_database() -> None:
    ci = settings.get_profile("ci")
    assert ci.database is None

    def draws() -> list[str]:
        seen: list[str] = []

        @settings(ci, max_examples=20)
        @given(st.text())
        def record(value: str) -> None:
            seen.append(value)

        record()
        return seen

    first = draws()
    assert len(set(first)) > 1
    assert draws() == first
