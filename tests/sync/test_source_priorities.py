"""A changed SOURCE_PRIORITY reaches the rows stored before it, and the golden records follow."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

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


def test_an_address_a_changed_priority_cannot_give_is_a_conflict_of_the_run(
    db_url: str, tmp_path: Path
) -> None:
    """Review: applied, a priority that moved a customer onto an address another holds left it
    where it was without a word; it is a warning and a conflict of the run that applied it."""
    files = {
        "c1": "id,email,first_name,city\n1,a@x.com,Ann,Paris\n",
        "s1": "id,email,first_name,city\ns1,a@x.com,Ann,Lyon\n",
        "s2": "id,email,first_name,city\ns1,b@x.com,Ann,Lyon\n",
        "c2": "id,email,first_name,city\n1,a@x.com,Ann,Paris\n2,a@x.com,Other,Rome\n",
    }
    paths = {name: write_file(tmp_path, text, f"{name}.csv") for name, text in files.items()}
    for name, source in (("c1", "csv"), ("s1", "shopify"), ("s2", "shopify"), ("c2", "csv")):
        assert run_csv(db_url, paths[name], source_name=source).status == "succeeded"
    # Customer 1 holds b@ (Shopify ranks above csv); customer 2 took a@, which 1 gave up.
    summary = run_csv(db_url, paths["c2"], source_name="csv", source_priority={"csv": 70})
    assert (summary.counts["conflicts"], summary.counts["warnings"]) == (1, 1)
    warned = [r for r in table_rows(db_url, "sync_reject") if r["run_id"] == summary.run_id]
    assert [(r["reason"], r["field"]) for r in warned] == [("email_conflict", "email")]
    assert "SOURCE_PRIORITY" in warned[0]["message"]


def test_a_row_another_run_holds_defers_the_change_instead_of_waiting_or_failing(
    pg_only_url: str, tmp_path: Path
) -> None:
    """Review: applied while a concurrent batch held rows, the change deadlocked it and the
    run stayed `running`. It gives way (lock_timeout) and leaves the rest to the next run."""
    from models import get_engine
    from sync.load.priorities import apply_priorities
    from sync.settings import Settings

    shop = write_file(tmp_path, SHOP, "shop.csv")
    _import(pg_only_url, shop, "shop-a", {"shop-a": 60})
    engine = get_engine(pg_only_url)
    settings = Settings(database_url=pg_only_url, source_priority={"shop-a": 10})
    with engine.connect() as holder:
        holder.execute(sa.text("UPDATE customer_source SET priority = priority"))  # a batch mid-write
        applied = apply_priorities(engine, settings.source_priority, settings.priority_of)
        holder.rollback()
    assert applied.deferred and applied.recomputed == 0
    assert {r["priority"] for r in table_rows(pg_only_url, "customer_source")} == {60}
    # The next run applies it.
    again = apply_priorities(engine, settings.source_priority, settings.priority_of)
    assert (again.deferred, again.recomputed) == (False, 1)
    assert {r["priority"] for r in table_rows(pg_only_url, "customer_source")} == {10}
