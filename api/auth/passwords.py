"""Password rules (each failure with its own code) and argon2 hashing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.auth._common_passwords import COMMON_PASSWORDS
from sync.settings import Settings


@dataclass(frozen=True)
class PasswordProblem:
    """One broken rule: a stable code (Django's names) and a message for people."""

    code: str
    message: str


def password_problems(
    password: str, min_length: int, personal: tuple[str, ...] = ()
) -> list[PasswordProblem]:
    """Every rule `password` breaks; empty when it is acceptable."""
    problems: list[PasswordProblem] = []
    if len(password) < min_length:
        problems.append(
            PasswordProblem(
                "password_too_short",
                f"This password is too short. It must contain at least {min_length} characters.",
            )
        )
    lowered = password.lower().strip()
    if lowered in COMMON_PASSWORDS:
        problems.append(PasswordProblem("password_too_common", "This password is too common."))
    if password.isdigit():
        problems.append(PasswordProblem("password_entirely_numeric", "This password is entirely numeric."))
    for attribute in personal:
        part = attribute.lower().split("@", 1)[0]
        if len(part) >= 3 and (part in lowered or lowered in part):
            problems.append(
                PasswordProblem(
                    "password_too_similar", "The password is too similar to your personal details."
                )
            )
            break
    return problems


@cache
def _hasher(time_cost: int, memory_kib: int) -> tuple[PasswordHasher, str]:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    # Verified against when the e-mail is unknown, so a miss costs as long as a wrong password.
    return hasher, hasher.hash("not-a-real-password-only-for-timing")


def _for(settings: Settings) -> tuple[PasswordHasher, str]:
    return _hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)


def hash_password(password: str, settings: Settings) -> str:
    return _for(settings)[0].hash(password)


def verify_password(password_hash: str | None, password: str, settings: Settings) -> bool:
    """Whether `password` matches; with no hash, burn the same time and answer no."""
    hasher, dummy = _for(settings)
    try:
        return hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str, settings: Settings) -> bool:
    """True when the hash was made with other parameters than the settings' (e.g. weaker)."""
    return _for(settings)[0].check_needs_rehash(password_hash)
