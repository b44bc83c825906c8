"""Pages of one run loaded in any order leave the store a sequential read leaves: newest stamp, then page order."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import SourceRecord
from models import SyncPage, SyncRun, ensure_schema
from sync.load import BatchTarget
from sync.mapping import MappingSpec
from sync.pipeline import SUMMARY_KEYS, FetchedPage, PagePlan, run_page
from sync.settings import Settings
from tests.conftest import truncate_all
from tests.sync.helpers import table_rows

T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
SPEC = MappingSpec(
    kind="customers",
    fields={"lastname": ["LastName"], "email": ["Email"]},
    id_columns=["Id"],
    modstamp_columns=["SystemModstamp"],
)


def _record(sid: str, seconds: int, name: str, position: int) -> SourceRecord:
    stamp = T0 + dt.timedelta(seconds=seconds)
    fields = {
        "Id": sid,
        "LastName": name,
        "Email": f"{sid.lower()}@example.com",
        "SystemModstamp": stamp.isoformat(),
    }
    return SourceRecord(sid, fields, stamp, False, position)


# One result set in read order: 003X comes back with an older stamp on a later page (the
# newer one must stay); 003Y twice with one stamp (the later page must win).
RECORDS = [
    _record("003X", 5, "Newer", 1),
    _record("003Z", 0, "Other", 2),
    _record("003X", 0, "Older", 3),
    _record("003Y", 1, "First", 4),
    _record("003Y", 1, "Second", 5),
]


def _load(
    url: str, pages: list[list[SourceRecord]], order: list[int], batch: int = 2
) -> tuple[dict[str, Any], dict[str, str]]:
    """Load `pages` of one run in `order`; the run's counts and the last names stored."""
    engine = ensure_schema(url)
    truncate_all(engine)
    run_id = "p" * 32
    with engine.begin() as conn:
        conn.execute(
            sa.insert(SyncRun.__table__).values(  # type: ignore[attr-defined]
                **SyncRun(
                    id=run_id, source="salesforce", stream="contacts", checkpoint={"pages": True}
                ).model_dump()
            )
        )
        conn.execute(
            sa.insert(SyncPage.__table__),  # type: ignore[attr-defined]
            [
                SyncPage(
                    run_id=run_id, index=i, locator=f"L{i}", first_position=page[0].position or 0
                ).model_dump()
                for i, page in enumerate(pages)
            ],
        )

    def fetch_for(i: int) -> Any:
        def fetch(locator: str, first_position: int) -> FetchedPage:
            nxt = f"L{i + 1}" if i + 1 < len(pages) else ""
            stamps = [(r.modstamp, str(r.source_id)) for r in pages[i] if r.modstamp]
            return FetchedPage(list(pages[i]), nxt, max(stamps))

        return fetch

    settings = Settings(database_url=url, batch_size=batch)
    target = BatchTarget(run_id, "salesforce", "SALESFORCE", settings.priority_of("salesforce"))
    for i in order:
        run_page(engine, settings, fetch_for(i), SPEC, target, PagePlan(i, f"L{i}"), "token", lambda _: None)
    (run,) = table_rows(url, "sync_run", order_by="id")
    names = {
        r["source_id"]: r["payload"]["lastname"]
        for r in table_rows(url, "customer_source", order_by="source_id")
    }
    return {k: run[k] for k in SUMMARY_KEYS}, names


# What one page read in order leaves, in batches of two (every repeat in a later batch than
# its first): checked by the first case below.
SEQUENTIAL = (
    {
        "read": 5,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "rejected": 0,
        "duplicates": 2,
        "warnings": 0,
    },
    {"003X": "Newer", "003Y": "Second", "003Z": "Other"},
)


@pytest.mark.parametrize(
    ("sizes", "order", "batch"),
    [
        ([5], [0], 2),  # read in order
        ([1, 1, 1, 1, 1], [4, 3, 2, 1, 0], 2),  # every repeat on a page loaded before its first
        ([2, 3], [1, 0], 2),
        ([1, 4], [1, 0], 2),  # both 003Y in one batch of the same page
        ([5], [0], 5),  # the newer and the older 003X in one batch
    ],
)
def test_pages_loaded_out_of_order_end_as_the_sequential_read(
    pg_only_url: str, sizes: list[int], order: list[int], batch: int
) -> None:
    cuts = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    pages = [RECORDS[a:b] for a, b in itertools.pairwise(cuts)]
    assert _load(pg_only_url, pages, order, batch) == SEQUENTIAL
