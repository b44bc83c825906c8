"""What the mapping pool sends to its processes unpacks to the batch it was made from."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from connectors import ReadError, SourceRecord, SourceWarning
from connectors.base import ReadWarning
from sync.pipeline.mapper import pack, unpack

_HEADERS = [("id", "email"), ("email", "id"), ("id", "email", "phone"), ()]

_records = st.builds(
    lambda header, values, sid, stamp, deleted, position, warned: SourceRecord(
        sid,
        dict(zip(header, values, strict=False)),
        stamp,
        deleted,
        position,
        [ReadWarning("duplicate_header", "twice", position)] if warned else [],
    ),
    st.sampled_from(_HEADERS),
    st.lists(st.one_of(st.none(), st.text(max_size=5), st.integers()), min_size=3, max_size=3),
    st.one_of(st.none(), st.text(min_size=1, max_size=5)),
    st.one_of(st.none(), st.just(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 10**6)),
    st.booleans(),
)
_items = st.one_of(
    _records,
    st.builds(ReadError, st.integers(0, 99), st.just("too_few_columns"), st.text(max_size=5)),
    st.builds(SourceWarning, st.just("deferred"), st.text(max_size=5)),
)


@given(st.lists(_items, max_size=20))
def test_a_packed_batch_unpacks_to_itself(batch: list[SourceRecord | ReadError | SourceWarning]) -> None:
    assert unpack(pickle.loads(pickle.dumps(pack(batch)))) == batch


def test_a_header_is_sent_once_per_batch() -> None:
    batch = [SourceRecord(None, {"id": str(i), "email": f"p{i}@x.de"}, position=i) for i in range(3)]
    headers, items = pack(batch)
    assert headers == [("id", "email")]
    assert [item[1] for item in items] == [(str(i), f"p{i}@x.de") for i in range(3)]  # type: ignore[index]
