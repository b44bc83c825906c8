"""Field normalisers: each turns a raw value into the store's form or raises `FieldError`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from phonenumbers import phonenumberutil as _pnu

from models.enums import UserGender


class FieldError(ValueError):
    """A value that cannot be understood; `reason` is a stable code for reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class FieldWarning(NamedTuple):
    """A value that was kept, or changed to be kept, and what the person should know about it."""

    reason: str
    message: str


_SPACES = re.compile(r"\s+")
# Invisible characters that copy and paste leaves around values: zero-width space, word
# joiner, zero-width (non-)joiner, BOM. Bidi controls are left alone: they are part of
# right-to-left names as people typed them.
_INVISIBLE = "\u200b\u2060\u200c\u200d\ufeff"


def clean_text(value: str | None) -> str | None:
    """Trim (white space and invisible characters) and fold inner runs of white space; empty becomes None."""
    if value is None:
        return None
    if value.isprintable() and "  " not in value:
        # Nearly every cell: its only white space is single spaces (every other white space
        # and invisible character is unprintable), so there is nothing to fold but its ends.
        return value.strip(" ") or None
    folded = _SPACES.sub(" ", value).strip()
    while folded and (folded[0] in _INVISIBLE or folded[-1] in _INVISIBLE):
        # White space and invisible characters mixed at an end (`\u200b\u00a0\ufeffAnn`): both
        # kinds go, however they alternate.
        folded = folded.strip(_INVISIBLE).strip()
    return folded or None


def clean_lines(value: str | None) -> str | None:
    """Like `clean_text`, per line: a multi-line street keeps its line breaks (as `\\n`)."""
    if value is None:
        return None
    if value.isprintable():
        return clean_text(value)  # one line: every line break is unprintable
    lines = (clean_text(line) for line in value.splitlines())
    return "\n".join(line for line in lines if line) or None


# A plain ASCII dot-atom local part: the shape of nearly every real address.
_SIMPLE_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=65536)
def _checked_domain(domain: str) -> str:
    # Domains repeat (gmail.com, the company's own), and their check is the costly part.
    return validate_email(f"x@{domain}", check_deliverability=False).ascii_domain


# Top-level names reserved for tests, documentation and local networks (RFC 6761, RFC 6762,
# RFC 2606): valid syntax, never deliverable on the Internet.
SPECIAL_USE_DOMAINS = frozenset({"test", "example", "invalid", "localhost", "local", "arpa", "onion"})
# Characters copy and paste leaves in addresses; none of them can be part of one (no-break
# spaces too: an address holds no space at all, and the README promises them removed).
_EMAIL_INVISIBLE = re.compile(
    "[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u202a-\u202e\u2066-\u2069\u00a0\u2007\u202f]"
)


def special_use_domain(address: str) -> str | None:
    """The special-use top-level name an address's domain ends in, if any."""
    tld = address.rpartition("@")[2].rstrip(".").rpartition(".")[2]
    return tld if tld in SPECIAL_USE_DOMAINS else None


def normalize_email(value: str, *, allow_special_use: bool = False) -> str:
    """A syntactically valid address, lower-cased whole (mailboxes are case-blind in practice).

    Internationalised domains take one form whichever way they were written (`bücher.example`
    and `xn--bcher-kva.example` are one mailbox): email-validator's normalised Unicode form.
    Special-use domains (`.test`, `.example`, …) are refused unless `allow_special_use`.
    """
    candidate = _EMAIL_INVISIBLE.sub("", value).strip().lower()
    local, at, domain = candidate.rpartition("@")
    tld = special_use_domain(candidate) if allow_special_use else None
    if tld and not candidate.endswith("." + tld):
        tld = None
    try:
        simple = at and len(local) <= 64 and _SIMPLE_LOCAL.fullmatch(local)
        if simple and domain.isascii() and "xn--" not in domain and not tld:
            return f"{local}@{_checked_domain(domain)}"
        # email-validator refuses special-use names outright; the rest of the address is
        # checked under a stand-in name (`.example` passes its check) and the name put back.
        probe = candidate[: -len(tld)] + "example" if tld and tld != "example" else candidate
        normalized = validate_email(probe, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise FieldError("invalid_email", f"not a valid e-mail address: {exc}") from None
    return normalized[: -len("example")] + tld if probe != candidate and tld else normalized


def read_email(value: str) -> tuple[str, FieldWarning | None]:
    """An imported address: as `normalize_email`, but special-use domains are kept with a warning.

    A staging export full of `@shop.test` people is still people; sign-up refuses them.
    """
    address = normalize_email(value, allow_special_use=True)
    tld = special_use_domain(address)
    if tld is None:
        return address, None
    return address, FieldWarning(
        "special_use_domain",
        f"{address} is on the special-use domain .{tld}: kept, but mail to it never arrives",
    )


@dataclass(frozen=True, slots=True)
class PhoneReading:
    """A cell's phone number in E.164, with what else the cell held and what to warn about."""

    number: str
    extension: str | None = None
    others: tuple[str, ...] = ()
    warnings: tuple[FieldWarning, ...] = ()


_E164 = phonenumbers.PhoneNumberFormat.E164
# The library compiles its metadata's patterns at each use, relying on the re module's cache of
# 512, which a file of many countries' numbers churns. Its own switch keeps them all (releases
# without it skip this).
if hasattr(phonenumbers, "enable_pattern_cache"):
    phonenumbers.enable_pattern_cache()
# More than one number in a cell: a list separator, or more digits than one number has.
_SEVERAL = re.compile(r"[,;|\n]| / | or | oder ", re.IGNORECASE)


def _parse_valid(text: str, region: str | None, digits: str | None = None) -> phonenumbers.PhoneNumber | None:
    """`text` parsed in `region` if it is a valid number; `digits`: its digits, when it is a plain cell.

    A plain cell (`plain_digits`) is parsed from its digits by `parse_plain_digits`, which
    skips the steps of `phonenumbers.parse` that cannot change such a cell.
    """
    try:
        if digits is not None and region in _PLAIN_REGIONS:
            number = parse_plain_digits(digits, region)
        else:
            number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if is_valid_number(number) else None


# Whether this phonenumbers still has the steps `parse_plain_digits` calls (they are private:
# a release that renames them sends every cell through `phonenumbers.parse` again).
_PARSE_STEPS = (
    "_maybe_extract_country_code",
    "_maybe_strip_national_prefix_carrier_code",
    "_test_number_length",
    "_set_italian_leading_zeros_for_phone_number",
    "region_code_for_country_code",
    "ValidationResult",
    "_MIN_LENGTH_FOR_NSN",
    "_MAX_LENGTH_FOR_NSN",
)
_PLAIN_REGIONS = (
    frozenset(phonenumbers.SUPPORTED_REGIONS)
    if all(hasattr(_pnu, step) for step in _PARSE_STEPS)
    else frozenset()
)
# What `phonenumbers.parse` keeps when the number's length test says one of these.
_NOT_KEPT = frozenset(
    getattr(_pnu.ValidationResult, name, None)
    for name in ("TOO_SHORT", "IS_POSSIBLE_LOCAL_ONLY", "INVALID_LENGTH")
)


def plain_digits(text: str) -> str | None:
    """The digits of a cell made of ASCII digits, spaces, `().-` with three digits or more, else None.

    For such a cell `phonenumbers.parse` finds no extension, no RFC 3966 context, no letters
    to convert and no plus sign, and finds it viable: what it parses is its digits alone
    (tests/sync/mapping/test_fast_paths.py holds both readings equal).
    """
    if len(text) > 250 or not _PLAIN_NUMBER.fullmatch(text):
        return None
    digits = text.translate(_NOT_DIGITS) if not text.isdigit() else text
    return digits if len(digits) >= 3 else None


_NOT_DIGITS = str.maketrans("", "", " ().-")


def parse_plain_digits(digits: str, region: str) -> phonenumbers.PhoneNumber:
    """`phonenumbers.parse(cell, region)` for a cell whose `plain_digits` are `digits`.

    The steps of the library's `parse` that a string of three or more ASCII digits reaches
    (country code, national prefix, length test, leading zeros), in its order and with its
    own functions; the steps skipped are those that cannot change such a string (cleaning,
    viability, extension, the second normalisation). `region` must be one of
    `phonenumbers.SUPPORTED_REGIONS`, written as there. Raises NumberParseException as
    `parse` does.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    assert metadata is not None  # every supported region has its metadata
    number = phonenumbers.PhoneNumber()
    country_code, national = _pnu._maybe_extract_country_code(digits, metadata, False, number)
    if country_code != 0:
        number_region = _pnu.region_code_for_country_code(country_code)
        if number_region != region:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
                country_code, number_region
            )
            assert metadata is not None  # as the library asserts there
    else:
        national += digits
        number.country_code = metadata.country_code
    if len(national) < _pnu._MIN_LENGTH_FOR_NSN:
        raise phonenumbers.NumberParseException(
            phonenumbers.NumberParseException.TOO_SHORT_NSN,
            "The string supplied is too short to be a phone number.",
        )
    _, potential, _ = _pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
    if _pnu._test_number_length(potential, metadata) not in _NOT_KEPT:
        national = potential
    if len(national) > _pnu._MAX_LENGTH_FOR_NSN:
        raise phonenumbers.NumberParseException(
            phonenumbers.NumberParseException.TOO_LONG,
            "The string supplied is too long to be a phone number.",
        )
    _pnu._set_italian_leading_zeros_for_phone_number(national, number)
    number.national_number = int(national)
    return number


@lru_cache(maxsize=512)
def _main_region(country_code: int) -> tuple[str | None, bool]:
    """The first region of a country code, and whether phonenumbers picks it by validity alone.

    `region_code_for_number` tries a code's regions in order: one with `leading_digits` is
    taken when those match, one without when the number is valid there.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None, False
    if len(regions) == 1:
        return regions[0], True
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(regions[0].upper(), None)
    return regions[0], metadata is not None and metadata.leading_digits is None


def is_valid_number(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, checking the number's patterns once instead of twice.

    The library first finds the number's region (for a code shared by several regions, +1 or
    +44, by testing the number against the first region's patterns) and then tests it against
    that region's patterns again. A number valid in the first region, taken by validity, is
    valid, and a code with one region is valid exactly where it is valid in that region:
    `is_valid_number_for_region` alone answers both; anything else asks the library's own.
    Tested against the library's answer (tests/sync/mapping/test_phone_valid.py).
    """
    region, by_validity = _main_region(number.country_code)
    if region is None:
        return False
    if not by_validity:
        return phonenumbers.is_valid_number(number)
    if _valid_for_region(number, region):
        return True
    if len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(number.country_code or 0, ())) == 1:
        return False
    return phonenumbers.is_valid_number(number)


# The number types `phonenumbers._number_type_helper` tries, in its order: a number is valid in
# a region when it fits the general description and one of these (each with its own lengths).
_TYPES = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
    "fixed_line", "mobile",
)  # fmt: skip


def _fits(desc: phonenumbers.PhoneNumberDesc | None, length: int) -> str | None:
    """`desc`'s pattern if a number of `length` digits may match it (`_is_number_matching_desc`)."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return desc.national_number_pattern


@lru_cache(maxsize=8192)
def _region_patterns(
    country_code: int, region: str, length: int
) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """The general pattern of `region` for numbers of `length` digits, and one pattern joining
    the patterns of every type that admits that length; None when no number of that length is
    valid there.

    What `phonenumbers.is_valid_number_for_region` tests one type at a time (each pattern
    looked up, compiled or found in a cache, and matched in turn) answered by two matches.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    if metadata is None:
        return None
    general = _fits(metadata.general_desc, length)
    types = [
        pattern
        for kind in _TYPES
        if not (kind == "mobile" and metadata.same_mobile_and_fixed_line_pattern)
        and (pattern := _fits(getattr(metadata, kind), length)) is not None
    ]
    if general is None or not types:
        return None
    return re.compile(general), re.compile("|".join(f"(?:{p})" for p in types))


def _valid_for_region(number: phonenumbers.PhoneNumber, region: str) -> bool:
    """`phonenumbers.is_valid_number_for_region(number, region)` for a region of the number's
    own country code (`_main_region`'s)."""
    national = _pnu.national_significant_number(number)
    patterns = _region_patterns(number.country_code or 0, region, len(national))
    return patterns is not None and all(p.fullmatch(national) for p in patterns)


# Cells made of digits and punctuation only: what phonenumbers reads as the digits alone.
_PLAIN_NUMBER = re.compile(r"[0-9 ().-]+")


@lru_cache(maxsize=1024)
def _shortest_number(country_code: int) -> int:
    """The fewest digits a valid number of `country_code` has after it (0: no bound known).

    0 also where the main region's national prefix may be rewritten on parsing (its
    `national_prefix_transform_rule`), where a shorter cell could still parse longer.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    shortest = None
    for region in regions:
        metadata = (
            phonenumbers.PhoneMetadata.metadata_for_nongeo_region(country_code)
            if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
            else phonenumbers.PhoneMetadata.metadata_for_region(region)
        )
        if metadata is None or metadata.general_desc is None or not metadata.general_desc.possible_length:
            return 0
        if metadata.national_prefix_transform_rule is not None:
            return 0
        fewest = min(metadata.general_desc.possible_length)
        shortest = fewest if shortest is None else min(shortest, fewest)
    return shortest or 0


def _too_short_for_a_country_code(digits: str, text: str) -> bool:
    """Whether `+text` surely is no valid number: its digits after the country code are fewer
    than any number of that code has (parsing only ever drops digits from a plain cell).

    Saves the second parse of nearly every national number written without a trunk prefix.
    """
    if not digits or digits[0] == "0" or not _PLAIN_NUMBER.fullmatch(text):
        return False
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            shortest = _shortest_number(code)
            return bool(shortest) and len(digits) - size < shortest
    return False


def _one_number(text: str, region: str | None) -> tuple[phonenumbers.PhoneNumber, FieldWarning | None] | None:
    """One number, also when its country code was typed without `+` (as spreadsheets drop it)."""
    if text.startswith("00"):
        text = "+" + text[2:]
    plain = plain_digits(text)
    national = _parse_valid(text, region, plain)
    digits = plain if plain is not None else re.sub(r"\D", "", text)
    if text.startswith("+") or not region or digits.startswith("0"):
        return (national, None) if national else None
    international = None if _too_short_for_a_country_code(digits, text) else _parse_valid("+" + text, None)
    if international is None or (national is not None and national == international):
        return (national, None) if national else None
    own_code = str(phonenumbers.country_code_for_region(region))
    if national is None or digits.startswith(own_code):
        # `4917…` in a German row: the row's own country code with its `+` lost.
        return international, None
    # Both are real numbers in different countries: the national reading, and say so.
    other = phonenumbers.format_number(international, _E164)
    return national, FieldWarning(
        "ambiguous_phone",
        f"{text!r} read as a {region} number; it is also {other} if the country code was typed without +",
    )


def read_phone(value: str, default_region: str | None) -> PhoneReading:
    """The cell's number in E.164, national numbers read in `default_region`.

    An extension (`x123`, `ext. 45`) and further numbers in the cell are returned beside it.
    """
    reading = _read_phone(value, default_region)
    if reading is None:
        raise FieldError("invalid_phone", f"not a valid phone number: {value!r}")
    return reading


@lru_cache(maxsize=16384)
def _read_phone(value: str, default_region: str | None) -> PhoneReading | None:
    # Cached: a shop's own number, a placeholder, a household's line repeat down a file, and
    # parsing is most of what mapping a row costs. Readings are immutable, so sharing is safe.
    candidate = value.strip()
    region = (default_region or "").upper() or None
    # A plain cell of at most 17 characters holds one number at most: neither test can hold.
    short_and_plain = len(candidate) <= 17 and _PLAIN_NUMBER.fullmatch(candidate)
    if not short_and_plain and (_SEVERAL.search(candidate) or sum(ch.isdigit() for ch in candidate) > 17):
        found = [m.number for m in phonenumbers.PhoneNumberMatcher(candidate, region or "ZZ")]
        if len(found) > 1:
            first, rest = found[0], tuple(phonenumbers.format_number(n, _E164) for n in found[1:])
            return PhoneReading(
                phonenumbers.format_number(first, _E164),
                first.extension or None,
                rest,
                (
                    FieldWarning(
                        "multiple_phones", f"{value!r} holds {len(found)} numbers: the first is kept"
                    ),
                ),
            )
    reading = _one_number(candidate, region)
    if reading is None:
        return None
    number, warning = reading
    return PhoneReading(
        phonenumbers.format_number(number, _E164),
        number.extension or None,
        warnings=(warning,) if warning else (),
    )


def normalize_phone(value: str, default_region: str | None) -> str:
    """The number in E.164, reading national numbers in `default_region`."""
    return read_phone(value, default_region).number


_COUNTRY_ALIASES = {
    "UK": "GB",
    "U.K.": "GB",
    "ENGLAND": "GB",
    "GREAT BRITAIN": "GB",
    "USA": "US",
    "U.S.A.": "US",
    "U.S.": "US",
    "UNITED STATES OF AMERICA": "US",
    "AMERICA": "US",
    "RUSSIA": "RU",
    "SOUTH KOREA": "KR",
    "KOREA": "KR",
    "VIETNAM": "VN",
    "IRAN": "IR",
    "TURKEY": "TR",
}


@lru_cache(maxsize=4096)
def normalize_country(value: str) -> str:
    """ISO 3166-1 alpha-2 from a code (alpha-2/3) or an English name (cached: a file repeats a few)."""
    candidate = value.strip()
    alias = _COUNTRY_ALIASES.get(candidate.upper())
    if alias:
        return alias
    try:
        country = pycountry.countries.lookup(candidate)
    except LookupError:
        raise FieldError("invalid_country", f"unknown country: {value!r}") from None
    return str(country.alpha_2)


_GENDERS = {
    "m": UserGender.MALE,
    "male": UserGender.MALE,
    "man": UserGender.MALE,
    "h": UserGender.MALE,
    "f": UserGender.FEMALE,
    "female": UserGender.FEMALE,
    "woman": UserGender.FEMALE,
    "w": UserGender.FEMALE,
    "o": UserGender.OTHER,
    "other": UserGender.OTHER,
    "x": UserGender.OTHER,
    "d": UserGender.OTHER,
    "diverse": UserGender.OTHER,
    "non-binary": UserGender.OTHER,
    "nonbinary": UserGender.OTHER,
}


def normalize_gender(value: str) -> str:
    """One of the documented `UserGender` values."""
    gender = _GENDERS.get(value.strip().lower())
    if gender is None:
        raise FieldError("invalid_gender", f"unknown gender: {value!r}")
    return gender.value


# Excel counts days from 1899-12-30 (its 1900 leap-year bug already folded in).
_EXCEL_EPOCH = date(1899, 12, 30)
DAY_FIRST_FORMATS: tuple[str, ...] = ("%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%y")
MONTH_FIRST_FORMATS: tuple[str, ...] = ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")


def _fixed_form_date(candidate: str, formats: Sequence[str]) -> date | None:
    """`candidate` read as an Excel serial number, ISO 8601 or one of `formats`; None if none fits."""
    if candidate.isdigit() and 1 <= int(candidate) <= 2_958_465 and len(candidate) <= 5:
        return _EXCEL_EPOCH + timedelta(days=int(candidate))
    try:
        return date.fromisoformat(candidate[:10])
    except ValueError:
        pass
    for fmt in formats:
        try:
            return datetime.strptime(candidate, fmt).date()
        except ValueError:
            continue
    return None


def normalize_date(value: str, formats: Sequence[str] = DAY_FIRST_FORMATS) -> date:
    """A calendar date from ISO 8601, an Excel serial number, or one of `formats`."""
    found = _fixed_form_date(value.strip(), formats)
    if found is None:
        raise FieldError("invalid_date", f"not a date: {value!r}")
    return found


DATE_ORDERS: tuple[str, ...] = ("day-first", "month-first")
# 3/14/1985, 14.03.85, 03-14-1985: two small numbers and a year, in an order the value may not tell.
# A time after the date (spreadsheets write `3/14/1985 0:00`, `09-06-2026 16:14`, `6/9/2026
# 4:14 PM`) says nothing about the date; its parts are groups 5-9 (hour, minute, second,
# fraction, a/p).
_TIME_OF_DAY = r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?(?:\s*([AaPp])\.?[Mm]\.?)?)?"
_NUMERIC_DATE = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})" + _TIME_OF_DAY)
# Year first (1985-3-14, 1985/03/14) is year-month-day everywhere.
_YEAR_FIRST = re.compile(r"(\d{4})([./-])(\d{1,2})\2(\d{1,2})" + _TIME_OF_DAY)


def date_order_evidence(value: str) -> str | None:
    """The order a numeric date proves by itself: a first part above 12 is a day, a second one too."""
    match = _NUMERIC_DATE.fullmatch(value.strip())
    if not match:
        return None
    first, second = int(match.group(1)), int(match.group(3))
    if first > 12 >= second >= 1:
        return "day-first"
    if second > 12 >= first >= 1:
        return "month-first"
    return None


class DateOrderVote:
    """Evidence from one column's values: the order it is read in, or None when it does not say."""

    def __init__(self) -> None:
        self.day_first = 0
        self.month_first = 0

    def add(self, value: str) -> None:
        order = date_order_evidence(value)
        if order == "day-first":
            self.day_first += 1
        elif order == "month-first":
            self.month_first += 1

    def order(self) -> str | None:
        if self.month_first and not self.day_first:
            return "month-first"
        if self.day_first and not self.month_first:
            return "day-first"
        return None  # no evidence, or a column that contradicts itself


def _year(text: str) -> int:
    # Two-digit years as strptime reads them (69-99 -> 1900s, 00-68 -> 2000s).
    return datetime.strptime(text, "%y").year if len(text) == 2 else int(text)


def read_date(value: str, order: str | None, formats: Sequence[str] = ()) -> date:
    """A calendar date from ISO 8601, an Excel serial, `formats`, or d/m/y in the column's `order`.

    A numeric date that reads two ways is refused (`ambiguous_date`) unless `order` says which:
    a swapped day and month is worse than none. Dotted dates are day-first wherever they are
    written, so they need no order.
    """
    candidate = value.strip()
    fixed = _fixed_form_date(candidate, formats)
    if fixed is not None:
        return fixed
    found = _numeric_date(candidate, order)
    if found is None:
        raise FieldError("invalid_date", f"not a date: {value!r}")
    return found[0]


def _numeric_date(candidate: str, order: str | None) -> tuple[date, re.Match[str]] | None:
    """The date of `y-m-d` or `d/m/y` (a time may follow, in the match), None for other shapes."""
    year_first = _YEAR_FIRST.fullmatch(candidate)
    if year_first:
        try:
            parts = int(year_first.group(1)), int(year_first.group(3)), int(year_first.group(4))
            return date(*parts), year_first
        except ValueError:
            raise FieldError("invalid_date", f"not a date: {candidate!r}") from None
    match = _NUMERIC_DATE.fullmatch(candidate)
    if not match:
        return None
    first, sep, second, year = int(match.group(1)), match.group(2), int(match.group(3)), match.group(4)
    told = date_order_evidence(candidate) or order or ("day-first" if sep == "." else None)
    if told is None and first != second:
        raise FieldError(
            "ambiguous_date", f"{candidate!r} could be day-first or month-first, and its column does not say"
        )
    day, month = (first, second) if told in (None, "day-first") else (second, first)
    try:
        return date(_year(year), month, day), match
    except ValueError:
        raise FieldError("invalid_date", f"not a date: {candidate!r}") from None


def _clock(match: re.Match[str]) -> tuple[int, int, int, int]:
    """Hour, minute, second and microsecond of a date's time part (midnight when it has none)."""
    hour, minute, second, fraction, meridiem = match.group(5, 6, 7, 8, 9)
    if hour is None:
        return 0, 0, 0, 0
    h = int(hour)
    if meridiem:
        if not 1 <= h <= 12:
            raise ValueError("a 12-hour clock reads 1 to 12")
        h = h % 12 + (12 if meridiem in "Pp" else 0)
    return h, int(minute), int(second or 0), int((fraction or "0").ljust(6, "0"))


# Salesforce writes the offset without a colon (`…000+0000`), which fromisoformat wants.
_OFFSET_WITHOUT_COLON = re.compile(r"(.*[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)([+-]\d\d)(\d\d)")
_EXCEL_SERIAL = re.compile(r"\d{1,5}(?:\.\d+)?")


def read_datetime(value: str, order: str | None = None, zone: tzinfo = UTC) -> datetime:
    """An instant (in UTC) from ISO 8601, an Excel serial, or `d/m/y h:m` as a spreadsheet writes it.

    The day/month order of a numeric date is the value's own when it proves one (a part above
    12), else the column's `order`; with neither it is refused (`ambiguous_date`), never
    guessed. A time without an offset is a time in `zone` (the layout's; UTC unless it says).
    """
    candidate = value.strip()
    iso = candidate[:-1] + "+00:00" if candidate[-1:] in ("Z", "z") else candidate
    if match := _OFFSET_WITHOUT_COLON.fullmatch(iso):
        iso = f"{match.group(1)}{match.group(2)}:{match.group(3)}"
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        parsed = _spreadsheet_datetime(candidate, value, order)
    return (parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed).astimezone(UTC)


def _spreadsheet_datetime(candidate: str, value: str, order: str | None) -> datetime:
    if _EXCEL_SERIAL.fullmatch(candidate) and 1 <= float(candidate) < 2_958_466:
        # An Excel date-time serial: days since its epoch, the time as the fraction.
        days = float(candidate)
        return datetime.combine(_EXCEL_EPOCH, datetime.min.time()) + timedelta(
            days=int(days), seconds=round((days - int(days)) * 86_400)
        )
    found = _numeric_date(candidate, order)
    if found is None:
        raise FieldError("invalid_datetime", f"not a date and time: {value!r}")
    day, match = found
    try:
        hour, minute, second, microsecond = _clock(match)
        return datetime(day.year, day.month, day.day, hour, minute, second, microsecond)
    except ValueError:
        raise FieldError("invalid_datetime", f"not a date and time: {value!r}") from None


def normalize_datetime(value: str) -> datetime:
    """A timezone-aware instant from ISO 8601 or Salesforce's `…T00:37:00.000+0000`."""
    candidate = value.strip()
    if candidate.endswith("Z"):
        candidate = candidate[:-1] + "+00:00"
    # Salesforce writes the offset without a colon; fromisoformat wants one before 3.11 forms.
    match = re.fullmatch(r"(.*[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)([+-]\d\d)(\d\d)", candidate)
    if match:
        candidate = f"{match.group(1)}{match.group(2)}:{match.group(3)}"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = datetime.combine(normalize_date(value), datetime.min.time())
        except FieldError:
            raise FieldError("invalid_datetime", f"not a date and time: {value!r}") from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        # `9999-12-31T23:59:59-14:00` is past year 9999 once in UTC: a bad value, not a crash.
        raise FieldError("invalid_datetime", f"not a date and time we can store: {value!r}") from None


_TRUE = {"1", "true", "yes", "y", "t", "x", "subscribed", "on"}
_FALSE = {"0", "false", "no", "n", "f", "", "unsubscribed", "off"}


def normalize_bool(value: str) -> bool:
    """A yes/no flag in the spellings exports use."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FieldError("invalid_bool", f"not a yes/no value: {value!r}")


# Countries whose postal codes are all digits, of one length, and may start with 0: the
# ones a spreadsheet damages by reading the code as a number.
POSTAL_CODE_DIGITS: dict[str, int] = {
    "US": 5, "PR": 5, "DE": 5, "FR": 5, "IT": 5, "ES": 5, "FI": 5, "MX": 5, "MY": 5, "DZ": 5,
    "NO": 4, "DK": 4, "AU": 4, "NZ": 4, "ZA": 4, "PH": 4,
    "SG": 6, "CN": 6,
}  # fmt: skip
_US_ZIP = re.compile(r"(\d{3,5})(-\d{4})?")
_DIGITS = re.compile(r"\d+")


def restore_postal_code(code: str, country: str | None) -> str | None:
    """The code with leading zeros a spreadsheet dropped put back, or None when it needs none.

    Only for countries in POSTAL_CODE_DIGITS, and only up to two lost zeros: a shorter value
    is something else, and is left as given.
    """
    length = POSTAL_CODE_DIGITS.get(country or "")
    if length is None:
        return None
    match = (_US_ZIP if country in ("US", "PR") else _DIGITS).fullmatch(code.strip())
    if not match:
        return None
    digits = match.group(1) if country in ("US", "PR") else match.group(0)
    if not length - 2 <= len(digits) < length:
        return None
    suffix = match.group(2) or "" if country in ("US", "PR") else ""
    return digits.zfill(length) + suffix


_SF_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SF_ID = re.compile(r"[a-zA-Z0-9]{15}")
_SF_ID_18 = re.compile(r"[a-zA-Z0-9]{15}[a-zA-Z0-5]{3}")


def salesforce_id_18(value: str) -> str:
    """The case-safe 18-character form of a 15-character Salesforce id; anything else as given.

    Each added character encodes which of five id characters are upper case, so ids that
    differ only in case stay apart in case-blind systems. That is also why an 18-character id
    whose case a tool changed (all upper, all lower) comes back exactly: its suffix says.
    """
    if _SF_ID_18.fullmatch(value):
        return _case_from_suffix(value) or value
    if not _SF_ID.fullmatch(value):
        return value
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(value[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _SF_SUFFIX[bits]
    return value + suffix


def _case_from_suffix(value: str) -> str | None:
    # None when the suffix marks a digit upper case: then it is no Salesforce id at all.
    suffix = value[15:].upper()
    chars = list(value[:15])
    for block, code in enumerate(suffix):
        bits = _SF_SUFFIX.index(code)
        for i in range(5):
            ch = chars[block * 5 + i]
            if bits >> i & 1:
                if not ch.isalpha():
                    return None
                chars[block * 5 + i] = ch.upper()
            else:
                chars[block * 5 + i] = ch.lower()
    return "".join(chars) + suffix


# Excel writes a long number in a General cell as `7.02255E+12` (LibreOffice alike, some
# locales with a decimal comma): every digit after the sixth is gone.
_SCIENTIFIC = re.compile(r"[+-]?\d(?:[.,]\d+)?E\+\d{1,3}", re.IGNORECASE)


def spreadsheet_rounded(value: str) -> bool:
    """Whether a value is a number a spreadsheet wrote in scientific notation, its digits lost."""
    return bool(_SCIENTIFIC.fullmatch(value.strip()))
