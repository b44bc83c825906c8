"""PkSet: the primary keys a run has read, as bits in pages, tested and set a batch at a time."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np

_PAGE_BITS = 16  # 65,536 keys a page
_PAGE_BYTES = 1 << (_PAGE_BITS - 3)  # 8,192
_LOW = (1 << _PAGE_BITS) - 1


class PkSet:
    """A set of primary keys as bits, in pages of 65,536 keys: ~1 bit a key however many.

    A run's unchanged rows are mostly a dense range of the source's pks; a set of ints would
    hold ~60 bytes for each, growing with the file. A batch's keys are tested (`members`) and
    added (`update`) a page at a time with numpy: per key in Python, the test was ~7 % of an
    unchanged re-import.
    """

    __slots__ = ("_pages",)

    def __init__(self) -> None:
        self._pages: dict[int, bytearray] = {}

    def add(self, pk: int) -> None:
        self.update((pk,))

    def update(self, pks: Iterable[int]) -> None:
        for page_no, low in self._by_page(pks):
            page = self._pages.get(page_no)
            if page is None:
                page = self._pages[page_no] = bytearray(_PAGE_BYTES)
            # A writable view of the page: the bits are set in place.
            np.bitwise_or.at(
                np.frombuffer(page, dtype=np.uint8), low >> 3, np.left_shift(1, low & 7).astype(np.uint8)
            )

    def members(self, pks: Iterable[int]) -> set[int]:
        """Those of `pks` in the set (most batches: none)."""
        found: set[int] = set()
        for page_no, low in self._by_page(pks):
            page = self._pages.get(page_no)
            if page is not None:
                bits = np.frombuffer(page, dtype=np.uint8)
                held = ((bits[low >> 3] >> (low & 7)) & 1).astype(bool)
                found.update(((page_no << _PAGE_BITS) + low[held]).tolist())
        return found

    def __contains__(self, pk: object) -> bool:
        if not isinstance(pk, int):
            return False
        page = self._pages.get(pk >> _PAGE_BITS)
        bit = pk & _LOW
        return page is not None and bool(page[bit >> 3] >> (bit & 7) & 1)

    def __bool__(self) -> bool:
        return bool(self._pages)

    @staticmethod
    def _by_page(pks: Iterable[int]) -> list[tuple[int, np.ndarray]]:
        """The keys grouped by page: each page number and the keys' offsets in it."""
        keys = np.fromiter(pks, dtype=np.int64, count=len(pks) if isinstance(pks, Collection) else -1)
        if not len(keys):
            return []
        pages = keys >> _PAGE_BITS
        first = int(pages[0])
        if (pages == first).all():  # most batches: one page
            return [(first, keys & _LOW)]
        return [(int(n), keys[pages == n] & _LOW) for n in np.unique(pages)]
