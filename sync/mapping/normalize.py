"""Field normalisers: each turns a raw value into the store's form or raises `FieldError`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from models.enums import UserGender


class FieldError(ValueError):
    """A value that cannot be understood; `reason` is a stable code for reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_SPACES = re.compile(r"\s+")


def clean_text(value: str | None) -> str | None:
    """Trim and fold inner runs of white space; empty becomes None."""
    if value is None:
        return None
    folded = _SPACES.sub(" ", value).strip()
    return folded or None


# A plain ASCII dot-atom local part: the shape of nearly every real address.
_SIMPLE_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=65536)
def _checked_domain(domain: str) -> str:
    # Domains repeat (gmail.com, the company's own), and their check is the costly part.
    return validate_email(f"x@{domain}", check_deliverability=False).ascii_domain


def normalize_email(value: str) -> str:
    """A syntactically valid address, lower-cased whole (mailboxes are case-blind in practice)."""
    candidate = value.strip().lower()
    local, at, domain = candidate.rpartition("@")
    try:
        if at and len(local) <= 64 and _SIMPLE_LOCAL.fullmatch(local) and domain.isascii():
            return f"{local}@{_checked_domain(domain)}"
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise FieldError("invalid_email", f"not a valid e-mail address: {exc}") from None
    return checked.normalized.lower()


def normalize_phone(value: str, default_region: str | None) -> str:
    """The number in E.164, reading national numbers in `default_region`."""
    candidate = value.strip()
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        number = phonenumbers.parse(candidate, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise FieldError("invalid_phone", f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError("invalid_phone", f"not a valid phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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


def normalize_country(value: str) -> str:
    """ISO 3166-1 alpha-2 from a code (alpha-2/3) or an English name."""
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


def normalize_date(value: str, formats: Sequence[str] = DAY_FIRST_FORMATS) -> date:
    """A calendar date from ISO 8601, an Excel serial number, or one of `formats`."""
    candidate = value.strip()
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
    raise FieldError("invalid_date", f"not a date: {value!r}")


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
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


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
