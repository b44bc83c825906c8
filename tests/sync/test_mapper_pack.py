"""What the mapping pool sends to its processes unpacks to the batch it was made from."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from connectors import ReadError, RecordText, SourceRecord, SourceWarning
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


def _split(line: int, text: str) -> SourceRecord | ReadError:
    cells = text.split(",")
    if len(cells) != 2:
        return ReadError(line, "wrong_width", f"{len(cells)} cells")
    return SourceRecord(cells[0], {"id": cells[0], "email": cells[1]}, position=line)


def test_lines_go_as_their_text_to_processes_that_split_them() -> None:
    """A line read as its text is sent as (line, text) when the processes hold its stream's
    split, and split there into what splitting it here gives; another stream's is split here."""
    texts = [RecordText(2, "7,a@x.de", _split), RecordText(3, "broken", _split)]
    other = RecordText(4, "8,b@x.de", lambda line, text: _split(line, text.upper()))
    warning = SourceWarning("deferred", "later")
    headers, items = pack([*texts, other, warning], _split)
    assert items[:2] == [(2, "7,a@x.de"), (3, "broken")]
    assert type(items[2]) is tuple and len(items[2]) == 7  # split here, sent as values
    expected = [text.record() for text in (*texts, other)]
    assert unpack(pickle.loads(pickle.dumps((headers, items))), _split) == [*expected, warning]
