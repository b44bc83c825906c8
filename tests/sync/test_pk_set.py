"""PkSet, the bits a run keeps of the rows it skipped: a set of ints, whatever the keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.load import PkSet

_pks = st.lists(st.one_of(st.integers(1, 200_000), st.integers(1, 1 << 62)), max_size=60)


@given(_pks, _pks, _pks)
def test_a_pk_set_holds_exactly_what_was_added(
    added: list[int], updated: list[int], probes: list[int]
) -> None:
    pks = PkSet()
    for pk in added:
        pks.add(pk)
    pks.update(updated)
    expected = {*added, *updated}
    assert bool(pks) == bool(expected)
    for pk in [*added, *updated, *probes, *(p + 1 for p in probes)]:
        assert (pk in pks) == (pk in expected)
    assert "1" not in pks


@given(_pks, _pks, _pks)
def test_members_are_the_keys_of_a_batch_the_set_holds(
    added: list[int], updated: list[int], probes: list[int]
) -> None:
    pks = PkSet()
    pks.update(added)
    for pk in updated:
        pks.add(pk)
    expected = {*added, *updated}
    batch = [*probes, *added[:3], *(p + 1 for p in probes)]
    assert pks.members(batch) == {pk for pk in batch if pk in expected}
    assert pks.members(iter(batch)) == pks.members(batch)  # an iterator, as the skip path gives it
    assert PkSet().members(batch) == set()
