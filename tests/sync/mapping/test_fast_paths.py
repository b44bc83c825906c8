"""The mapping's fast paths give exactly what the slow ones give: phone readings, cleaned text, loyalty ids."""

from __future__ import annotations

import re
from collections import Counter

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.mapping import new_loyalty_id
from sync.mapping.normalize import _INVISIBLE, _SPACES, _one_number, _parse_valid, clean_lines, clean_text

_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def _one_number_in_full(text: str, region: str) -> tuple[phonenumbers.PhoneNumber, bool] | None:
    """`_one_number` as it was before its shortcut: the `+` reading is always parsed."""
    if text.startswith("00"):
        text = "+" + text[2:]
    national = _parse_valid(text, region)
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or digits.startswith("0"):
        return (national, False) if national else None
    international = _parse_valid("+" + text, None)
    if international is None or (national is not None and national == international):
        return (national, False) if national else None
    if national is None or digits.startswith(str(phonenumbers.country_code_for_region(region))):
        return international, False
    return national, True


@st.composite
def national_cells(draw: st.DrawFn) -> tuple[str, str]:
    """A region and a cell near its real numbers: example numbers cut, extended, prefixed, punctuated."""
    region = draw(st.sampled_from(_REGIONS))
    example = phonenumbers.example_number(region)
    digits = draw(st.text("0123456789", min_size=3, max_size=13))
    if example is not None and draw(st.booleans()):
        nsn = phonenumbers.national_significant_number(example)
        cut = draw(st.integers(0, 4))
        digits = nsn[: len(nsn) - cut] + draw(st.text("0123456789", max_size=3))
        if draw(st.booleans()):
            digits = str(example.country_code) + digits
    digits = digits.lstrip("0") or "1"
    if draw(st.booleans()):
        digits = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return digits, region


@settings(max_examples=3000, deadline=None)
@given(national_cells())
def test_the_international_shortcut_never_changes_a_reading(cell: tuple[str, str]) -> None:
    text, region = cell
    got = _one_number(text, region)
    assert (None if got is None else (got[0], got[1] is not None)) == _one_number_in_full(text, region)


def test_the_shortcut_is_taken_for_us_numbers_read_as_plus() -> None:
    # `(212) 555-0100` read as `+212…` (Morocco) is 7 digits where Morocco has 9: not parsed.
    from sync.mapping import normalize

    calls: list[str] = []
    original = normalize._parse_valid

    def counting(text: str, region: str | None, digits: str | None = None) -> phonenumbers.PhoneNumber | None:
        calls.append(text)
        return original(text, region, digits)

    normalize._parse_valid = counting
    try:
        reading = _one_number("(212) 555-0100", "US")
    finally:
        normalize._parse_valid = original
    assert reading is not None and phonenumbers.format_number(reading[0], 0) == "+12125550100"
    assert calls == ["(212) 555-0100"]


def test_loyalty_ids_use_every_letter_equally() -> None:
    ids = [new_loyalty_id() for _ in range(31_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"LD[2-9A-HJKMNP-Z]{10}", i) for i in ids)
    letters = Counter("".join(i[2:] for i in ids))
    # 10,000 expected per letter, sd ~100 (so +-500 is 5 sd); spelling bytes 248-255 too
    # would put 8 letters ~9 % (900) over.
    assert len(letters) == 31
    assert all(9_500 <= n <= 10_500 for n in letters.values()), sorted(letters.values())


def _clean_text_in_full(value: str) -> str | None:
    """`clean_text`'s rule, written out: inner runs of white space folded to one space, then
    white space and invisible characters trimmed from both ends, in any mix."""
    ends = f"[\\s{_INVISIBLE}]+"
    return re.sub(f"^{ends}|{ends}$", "", _SPACES.sub(" ", value)) or None


def test_white_space_and_invisible_characters_mixed_at_an_end_all_go() -> None:
    assert clean_text("\u200b\u00a0\ufeffAnn\u00a0\u200b ") == "Ann"
    assert clean_text(";\u200b\u200b  \u200b") == ";"


# Cells as exports hold them: words, single and double spaces, other white space, line breaks
# and invisible characters between them; and anything else.
_PIECES = [
    "Ann", "Zoë", "O'Brien", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x85", "\xa0", "\u2028", "\u3000",
    "\u200b", "\u2060", "\ufeff", "x y", "-",
]  # fmt: skip
_CELL_TEXT = st.one_of(
    st.lists(st.sampled_from(_PIECES), max_size=8).map("".join),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)


@settings(max_examples=3000, deadline=None)
@given(_CELL_TEXT)
def test_clean_text_shortcut_reads_as_the_full_rule(value: str) -> None:
    assert clean_text(value) == _clean_text_in_full(value)


@settings(max_examples=3000, deadline=None)
@given(_CELL_TEXT)
def test_clean_lines_shortcut_reads_as_the_full_rule(value: str) -> None:
    lines = (_clean_text_in_full(line) for line in value.splitlines())
    assert clean_lines(value) == ("\n".join(line for line in lines if line) or None)
