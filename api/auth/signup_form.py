"""The sign-up form: every field checked and normalised, problems reported per field."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from api.auth.errors import ErrorCollector, FormErrors
from api.auth.passwords import password_problems
from models import CustomerBase, UserMerchantType, utcnow
from sync.mapping import (
    FieldError,
    clean_text,
    normalize_country,
    normalize_date,
    normalize_email,
    normalize_gender,
    normalize_phone,
)
from sync.settings import Settings

SELF_SERVICE_TYPES = ("CONSUMER", "MERCHANT")
# The internal source's payload: the sign-up's fields under the customer's column names.
PAYLOAD_FIELDS = (
    "email",
    "firstname",
    "lastname",
    "phone_number",
    "birthday",
    "gender",
    "country",
    "city",
    "street",
    "zip_code",
)


# Arguments stored in a customer column, by the column's name: their limit is the column's.
_COLUMN_OF = {
    "email": "email",
    "firstname": "firstname",
    "lastname": "lastname",
    "phone_number": "phone_number",
    "city": "city",
    "street": "street",
    "zip_code": "zip_code",
}
# Everything else (passwords, choices, dates) is checked against this before any work is
# done on it: nobody's password or birthday is a kilobyte long, and argon2 hashes all of it.
OTHER_MAX_LENGTH = 1024
_ARGUMENT_NAMES = {"phone_number": "phoneNumber", "zip_code": "zipCode", "user_type": "userType",
                   "merchant_type": "merchantType"}  # fmt: skip


def _column_limits() -> dict[str, int]:
    """`max_length` of each column a sign-up writes, as the model declares it."""
    limits: dict[str, int] = {}
    for argument, column in _COLUMN_OF.items():
        for meta in CustomerBase.model_fields[column].metadata:
            if hasattr(meta, "max_length"):
                limits[argument] = int(meta.max_length)
    return limits


MAX_LENGTHS = _column_limits()


@dataclass(frozen=True)
class SignUp:
    """The `register` arguments, as sent."""

    email: str
    password1: str
    password2: str
    firstname: str
    lastname: str
    user_type: str
    merchant_type: str | None = None
    phone_number: str | None = None
    birthday: str | None = None
    country: str | None = None
    city: str | None = None
    street: str | None = None
    zip_code: str | None = None
    gender: str | None = None


@dataclass(frozen=True)
class Profile:
    """A validated sign-up: the source payload plus what only the customer row keeps."""

    payload: dict[str, Any]
    user_type: str
    merchant_type: str | None


def _over_long(form: SignUp) -> dict[str, int]:
    """Each argument longer than its limit (its column's, else OTHER_MAX_LENGTH), with the limit."""
    found: dict[str, int] = {}
    for field in fields(form):
        value = getattr(form, field.name)
        limit = MAX_LENGTHS.get(field.name, OTHER_MAX_LENGTH)
        if isinstance(value, str) and len(value.strip()) > limit:
            found[_ARGUMENT_NAMES.get(field.name, field.name)] = limit
    return found


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def validate_sign_up(form: SignUp, settings: Settings) -> tuple[Profile | None, FormErrors | None]:
    """The normalised profile, or the problems keyed by argument name (camelCase, as sent)."""
    errors = ErrorCollector()
    too_long = _over_long(form)
    if too_long:
        # Nothing else is looked at: an over-long value is never normalised, hashed or stored.
        for argument, limit in too_long.items():
            errors.add(argument, "max_length", f"Ensure this value has at most {limit} characters.")
        return None, errors.result()
    email = None
    try:
        email = normalize_email(form.email)
    except FieldError:
        errors.add("email", "invalid", "Enter a valid email address.")
    if form.password1 != form.password2:
        errors.add("password2", "password_mismatch", "The two password fields didn't match.")
    else:
        personal = tuple(v for v in (form.email, form.firstname, form.lastname) if v)
        for problem in password_problems(form.password2, settings.password_min_length, personal):
            errors.add("password2", problem.code, problem.message)
    firstname, lastname = clean_text(form.firstname), clean_text(form.lastname)
    if not firstname:
        errors.add("firstname", "required", "This field is required.")
    if not lastname:
        errors.add("lastname", "required", "This field is required.")
    user_type = form.user_type.strip().upper()
    if user_type not in SELF_SERVICE_TYPES:
        # Staff and admins are made by an operator (`users create-admin`), never by sign-up.
        errors.add("userType", "invalid_choice", "Choose CONSUMER or MERCHANT.")
    merchant_type = None
    if not _blank(form.merchant_type):
        merchant_type = (form.merchant_type or "").strip().upper()
        if user_type != "MERCHANT":
            errors.add("merchantType", "invalid", "Only merchants have a merchant type.")
        elif merchant_type not in UserMerchantType.__members__:
            errors.add("merchantType", "invalid_choice", "Not a known merchant type.")
    country = None
    if not _blank(form.country):
        try:
            country = normalize_country(form.country or "")
        except FieldError:
            errors.add("country", "invalid_choice", "Not a known country.")
    phone = None
    if not _blank(form.phone_number):
        try:
            region = country or settings.default_phone_region
            phone = normalize_phone(form.phone_number or "", region)
        except FieldError:
            errors.add("phoneNumber", "invalid", "Enter a valid phone number.")
    birthday = None
    if not _blank(form.birthday):
        try:
            birthday = normalize_date(form.birthday or "")
            if birthday > utcnow().date():
                errors.add("birthday", "invalid", "A birthday cannot be in the future.")
        except FieldError:
            errors.add("birthday", "invalid", "Enter a valid date (YYYY-MM-DD).")
    gender = None
    if not _blank(form.gender):
        try:
            gender = normalize_gender(form.gender or "")
        except FieldError:
            errors.add("gender", "invalid_choice", "Choose MALE, FEMALE or OTHER.")
    if errors:
        return None, errors.result()
    payload = {
        "email": email,
        "firstname": firstname,
        "lastname": lastname,
        "phone_number": phone,
        "birthday": birthday.isoformat() if birthday else None,
        "gender": gender,
        "country": country,
        "city": clean_text(form.city),
        "street": clean_text(form.street),
        "zip_code": clean_text(form.zip_code),
    }
    return Profile(payload, user_type, merchant_type), None
