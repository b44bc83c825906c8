"""OAuth tokens at rest: MultiFernet under TOKEN_ENCRYPTION_KEY (first key encrypts, all decrypt)."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connectors.base import FatalSourceError


class TokenKeyError(FatalSourceError):
    """TOKEN_ENCRYPTION_KEY is missing or malformed, or no configured key opens a stored token."""


class TokenCipher:
    """Encrypts tokens for the store and opens them again, across key rotations.

    Rotation: put the new key first and keep the old ones after it (`new,old`); everything is
    still readable, everything written from then on uses the new key, and `rotate()` re-encrypts
    an old value so the old key can be dropped afterwards.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        fernets: list[Fernet] = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, TypeError):
                # The key itself is never echoed: it is a secret even when malformed.
                raise TokenKeyError(
                    f"TOKEN_ENCRYPTION_KEY: key {number} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with `customer-sync spotify new-key`)"
                ) from None
        if not fernets:
            raise TokenKeyError("TOKEN_ENCRYPTION_KEY is not set: linked Spotify tokens cannot be stored")
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, value: str | None) -> TokenCipher:
        """The cipher for a `TOKEN_ENCRYPTION_KEY` value: comma-separated keys, newest first."""
        return cls([k for k in (value or "").split(",") if k.strip()])

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str:
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise TokenKeyError(
                "a stored token opens with none of the keys in TOKEN_ENCRYPTION_KEY "
                "(was a key removed before its tokens were rotated?)"
            ) from None

    def rotate(self, stored: str) -> str:
        """The same token encrypted under the first key."""
        try:
            return self._fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            raise TokenKeyError(
                "a stored token opens with none of the keys in TOKEN_ENCRYPTION_KEY"
            ) from None
