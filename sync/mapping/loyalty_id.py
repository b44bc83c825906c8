"""Loyalty ids: short, unambiguous, random; generated when no source gives one."""

from __future__ import annotations

import secrets

# No 0/O or 1/I/L: these ids are read aloud at a till and typed from a receipt.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_LENGTH = 10


def new_loyalty_id() -> str:
    """A fresh loyalty id such as `LD7K3QW9ZC2M` (2 letters of prefix, 10 random characters)."""
    # One draw from the OS's generator, spelled in base 31 (11 draws cost as much as the rest
    # of creating a customer).
    n = secrets.randbelow(len(_ALPHABET) ** _LENGTH)
    chars = []
    for _ in range(_LENGTH):
        n, digit = divmod(n, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "LD" + "".join(chars)
