"""Loyalty ids made many at a time are as the documented shape says, and distinct."""

from __future__ import annotations

import re

from sync.mapping import new_loyalty_id, new_loyalty_ids

_SHAPE = re.compile(r"LD[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{10}")


def test_a_batch_of_ids_is_all_distinct_and_of_the_documented_shape() -> None:
    ids = new_loyalty_ids(20_000)
    assert len(ids) == 20_000 == len(set(ids))
    assert all(_SHAPE.fullmatch(i) for i in ids)
    # Every letter of the alphabet turns up (none is dropped by the spelling).
    assert set("".join(i[2:] for i in ids)) == set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")


def test_one_id_and_none() -> None:
    assert _SHAPE.fullmatch(new_loyalty_id())
    assert new_loyalty_ids(0) == []
