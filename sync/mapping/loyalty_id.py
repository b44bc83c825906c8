"""Loyalty ids: short, unambiguous, random; generated when no source gives one."""

from __future__ import annotations

import os

# No 0/O or 1/I/L: these ids are read aloud at a till and typed from a receipt.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_LENGTH = 10


# Random bytes below 248 (8 x 31) spelled as alphabet letters, the rest dropped: each letter
# equally likely, and the whole id made in C by one `translate` (a first import makes one per row).
_SPELL = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))
_DROP = bytes(range(len(_ALPHABET) * (256 // len(_ALPHABET)), 256))


def new_loyalty_id() -> str:
    """A fresh loyalty id such as `LD7K3QW9ZC2M` (2 letters of prefix, 10 random characters)."""
    return new_loyalty_ids(1)[0]


def new_loyalty_ids(count: int) -> list[str]:
    """`count` fresh loyalty ids (`new_loyalty_id`), from one read of the OS's generator.

    One read for a batch instead of one per id: each read is a system call that lets go of the
    GIL, and a loader thread waits up to the switch interval (5 ms) to take it back from the
    thread mapping the next batch.
    """
    # The OS's generator (what `secrets` reads); 16 bytes leave 10 letters all but once in ~3 million.
    data = os.urandom(16 * count)
    ids = []
    for start in range(0, 16 * count, 16):
        letters = data[start : start + 16].translate(_SPELL, _DROP)
        while len(letters) < _LENGTH:
            letters = os.urandom(16).translate(_SPELL, _DROP)
        ids.append("LD" + letters[:_LENGTH].decode("ascii"))
    return ids
