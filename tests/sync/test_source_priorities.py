"""A changed SOURCE_PRIORITY reaches the rows stored before it, and the golden records follow."""

from __future__ import annotations

from pathlib import Path

from sync.load.priorities import STATE_KEY
from tests.sync.helpers import golden_view, run_csv, table_rows, write_file

SHOP = "entitySourceId,email,firstname,city\ns-1,ann@example.com,FromShop,ShopCity\n"
CRM = "entitySourceId,email,firstname,city\nc-1,ann@example.com,FromCrm,CrmCity\n"


def _import(url: str, path: Path, source: str, priorities: dict[str, int]) -> None:
    summary = run_csv(url, path, preset_name="native", source_name=source, source_priority=priorities)
    assert summary.status == "succeeded"


def test_a_changed_priority_reaches_stored_rows_on_the_next_run(db_url: str, tmp_path: Path) -> None:
    """Review F6: the stored rows kept the priority they were written with, an unchanged
    re-import writes none, so the old order went on deciding every golden record."""
    shop, crm = write_file(tmp_path, SHOP, "shop.csv"), write_file(tmp_path, CRM, "crm.csv")
    before = {"shop-a": 60, "crm-b": 40}
    _import(db_url, shop, "shop-a", before)
    _import(db_url, crm, "crm-b", before)
    (person,) = golden_view(db_url).values()
    assert (person["firstname"], person["city"]) == ("FromShop", "ShopCity")

    after = {"shop-a": 10, "crm-b": 40}
    _import(db_url, shop, "shop-a", after)  # unchanged: writes no row
    (person,) = golden_view(db_url).values()
    assert (person["firstname"], person["city"]) == ("FromCrm", "CrmCity")
    assert {r["source"]: r["priority"] for r in table_rows(db_url, "customer_source")} == {
        "shop-a": 10,
        "crm-b": 40,
    }
    state = [
        r
        for r in table_rows(db_url, "connector_state", order_by="source")
        if (r["source"], r["stream"]) == STATE_KEY
    ]
    assert len(state) == 1

    # The same setting again: nothing to apply, the golden record stays.
    _import(db_url, crm, "crm-b", after)
    assert next(iter(golden_view(db_url).values()))["firstname"] == "FromCrm"
