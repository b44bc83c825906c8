"""`normalize.is_valid_number` answers exactly as `phonenumbers.is_valid_number`, on every code."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.mapping.normalize import is_valid_number

_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
# Codes shared by several regions: where the shortcut and the library's region search differ.
_SHARED = [c for c in _CODES if len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[c]) > 1]


def _examples(code: int) -> list[str]:
    """National significant numbers of every type in every region of `code`."""
    found = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]:
        for kind in phonenumbers.PhoneNumberType.values():
            example = (
                phonenumbers.example_number_for_non_geo_entity(code)
                if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
                else phonenumbers.example_number_for_type(region, kind)
            )
            if example is not None:
                found.append(phonenumbers.national_significant_number(example))
    return found or ["1"]


@st.composite
def numbers(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    """A number near real ones: an example of its code's regions, cut, extended or changed."""
    code = draw(st.sampled_from(_SHARED) if draw(st.booleans()) else st.sampled_from([*_CODES, 0, 999]))
    nsn = draw(st.sampled_from(_examples(code))) if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE else "1"
    cut = draw(st.integers(0, 3))
    digits = nsn[: max(1, len(nsn) - cut)] + draw(st.text("0123456789", max_size=3))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(digits) - 1))
        digits = digits[:at] + draw(st.sampled_from("0123456789")) + digits[at + 1 :]
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(digits))


@settings(max_examples=4000, deadline=None)
@given(numbers())
def test_the_shortcut_answers_as_the_library(number: phonenumbers.PhoneNumber) -> None:
    assert is_valid_number(number) == phonenumbers.is_valid_number(number)


def test_every_example_number_answers_as_the_library() -> None:
    checked = 0
    for code in _CODES:
        for nsn in _examples(code):
            for digits in (nsn, nsn[:-1] or "1", nsn + "0"):
                number = phonenumbers.PhoneNumber(country_code=code, national_number=int(digits))
                assert is_valid_number(number) == phonenumbers.is_valid_number(number), (code, digits)
                checked += 1
    assert checked > 2000


def test_a_crown_dependency_number_is_valid_through_the_library() -> None:
    # +44 7624 (Isle of Man mobiles) is not a GB number: the shortcut must fall through.
    number = phonenumbers.parse("+447624123456")
    assert phonenumbers.region_code_for_number(number) == "IM"
    assert is_valid_number(number) is True
    assert phonenumbers.is_valid_number_for_region(number, "GB") is False
