"""A plain cell parsed from its digits (`parse_plain_digits`) reads exactly as `phonenumbers.parse` reads it."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync.mapping import normalize
from sync.mapping.normalize import _parse_valid, parse_plain_digits, plain_digits, read_phone

_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def _library(text: str, region: str) -> phonenumbers.PhoneNumber | tuple[str, int]:
    """The library's reading, or the kind of error it raises."""
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return ("error", exc.error_type)


def _ours(digits: str, region: str) -> phonenumbers.PhoneNumber | tuple[str, int]:
    try:
        return parse_plain_digits(digits, region)
    except phonenumbers.NumberParseException as exc:
        return ("error", exc.error_type)


def _prefixes(region: str) -> list[str]:
    """What a region's cells start with besides the number: its trunk and international prefixes, its code."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert metadata is not None
    found = ["", str(metadata.country_code), "0", "00", "011", "1"]
    for prefix in (metadata.national_prefix, metadata.preferred_international_prefix):
        if prefix and prefix.isdigit():
            found.append(prefix)
    return found


@st.composite
def digit_strings(draw: st.DrawFn) -> tuple[str, str]:
    """A region and digits near its real numbers: examples of every type, prefixed, cut, extended, changed."""
    region = draw(st.sampled_from(_REGIONS))
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text("0123456789", min_size=3, max_size=20)), region
    kind = draw(st.sampled_from(sorted(phonenumbers.PhoneNumberType.values())))
    example_number = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
    nsn = phonenumbers.national_significant_number(example_number) if example_number else "2125550100"
    cut = draw(st.integers(0, 3))
    digits = draw(st.sampled_from(_prefixes(region))) + nsn[: max(1, len(nsn) - cut)]
    digits += draw(st.text("0123456789", max_size=3))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(digits) - 1))
        digits = digits[:at] + draw(st.sampled_from("0123456789")) + digits[at + 1 :]
    return (digits if len(digits) >= 3 else digits + "00"), region


@settings(max_examples=4000, deadline=None)
@given(digit_strings())
@example(("0201234567", "GB"))
@example(("4402079460000", "GB"))  # the country code without its +
@example(("0114402079460000", "US"))  # an international prefix
@example(("0039061234567", "IT"))  # Italian leading zero
@example(("000", "AU"))
@example(("123456789012345678", "DE"))  # too long
def test_digits_parse_as_the_library_parses_them(case: tuple[str, str]) -> None:
    digits, region = case
    assert _ours(digits, region) == _library(digits, region)


# Cells as people type them: digits with spaces, brackets, dots and hyphens around and between.
_PUNCTUATION = st.sampled_from([" ", "(", ")", ".", "-", "  ", ") ", " (", "--"])


@st.composite
def plain_cells(draw: st.DrawFn) -> tuple[str, str]:
    digits, region = draw(digit_strings())
    cell = ""
    for ch in digits:
        if draw(st.integers(0, 3)) == 0:
            cell += draw(_PUNCTUATION)
        cell += ch
    if draw(st.booleans()):
        cell += draw(_PUNCTUATION)
    return cell, region


@settings(max_examples=2500, deadline=None)
@given(plain_cells())
@example(("(212) 555-0100", "US"))
@example(("020 7946 0000", "GB"))
@example(("030 1234567", "DE"))
@example(("1 2", "US"))  # two digits: not a plain cell for the shortcut
@example(("((12))", "US"))
def test_a_plain_cell_parses_as_its_digits(case: tuple[str, str]) -> None:
    cell, region = case
    digits = plain_digits(cell)
    if digits is None:
        assert sum(ch.isdigit() for ch in cell) < 3
        return
    assert digits == "".join(ch for ch in cell if ch.isdigit())
    assert _ours(digits, region) == _library(cell, region)
    assert _parse_valid(cell, region, digits) == _parse_valid(cell, region)


@pytest.mark.parametrize(
    "cell",
    [
        "+1 212 555 0100",
        "212-555-0100 x12",
        "tel:+1-212-555-0100",
        "1-800-FLOWERS",
        "(212) 555/0100",
        "٠٢٠٧٩٤٦٠٠٠٠",
    ],
)
def test_cells_with_more_than_digits_and_punctuation_are_not_plain(cell: str) -> None:
    assert plain_digits(cell) is None


def test_without_the_library_steps_every_cell_goes_through_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    # A phonenumbers release without the private steps: the readings come from `parse` alone.
    monkeypatch.setattr(normalize, "_PLAIN_REGIONS", frozenset())
    monkeypatch.setattr(normalize, "parse_plain_digits", None)
    normalize._read_phone.cache_clear()
    try:
        assert read_phone("(212) 555-0100", "US").number == "+12125550100"
        assert read_phone("020 7946 0000", "GB").number == "+442079460000"
    finally:
        normalize._read_phone.cache_clear()
