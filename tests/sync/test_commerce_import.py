"""Orders, promotions and redemptions from CSV: keyed upserts and a ledger that never double-books."""

from __future__ import annotations

from pathlib import Path

from models import get_engine
from sync.load import find_customer
from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_orders_promotions_and_redemptions_land_and_replay_cleanly(db_url: str, tmp_path: Path) -> None:
    run_csv(
        db_url,
        write(tmp_path, "c.csv", "entitySourceId,email,firstname\n1,ann@example.com,Ann\n"),
        preset_name="native",
    )
    ann = find_customer(get_engine(db_url), email="ann@example.com")
    assert ann is not None

    orders = write(
        tmp_path,
        "o.csv",
        "orderId,consumerEmail,consumerLoyaltyId,store,orderType,completedAt,paymentType,total,points\n"
        "A1,ANN@example.com,,Downtown,Dine-in,2024-05-01T12:00:00Z,Card,12.50,12\n"
        f'A2,,{ann["loyaltyId"]},Uptown,Take-away,2024-05-02T12:00:00Z,Cash,"1.000,00",100\n'
        "A3,ghost@example.com,,Downtown,Dine-in,2024-05-03T12:00:00Z,Card,5,5\n"
        "A4,ann@example.com,,Downtown,Dine-in,2024-05-03T12:00:00Z,Card,lots,5\n",
    )
    summary = run_csv(db_url, orders, kind="orders", preset_name="native")
    assert_counts_add_up(summary)
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 2)
    reasons = {r["reason"] for r in table_rows(db_url, "sync_reject") if r["run_id"] == summary.run_id}
    assert reasons == {"unknown_customer", "invalid_number"}
    assert sorted(float(o["total"]) for o in table_rows(db_url, "customer_order")) == [12.5, 1000.0]
    assert {s["name"] for s in table_rows(db_url, "store")} == {"Downtown", "Uptown"}

    promos = write(
        tmp_path,
        "p.csv",
        "promotionId,name,store,startsAt,endsAt,audience,minPoints,tags,perCustomerLimit,pointsCost\n"
        "P1,Free coffee,Downtown,2024-01-01,2030-01-01,EVERYONE,,,1,10\n"
        "P2,Bad,Downtown,2024-01-01,2030-01-01,ALIENS,,,1,10\n",
    )
    p = run_csv(db_url, promos, kind="promotions", preset_name="native")
    assert (p.counts["created"], p.counts["rejected"]) == (1, 1)

    redemptions = write(
        tmp_path,
        "r.csv",
        "redemptionId,consumerEmail,promotionId,kind,points,stamps,createdAt\n"
        "R1,ann@example.com,P1,POINTS,10,,2024-06-01T10:00:00Z\n"
        "R2,ann@example.com,,STAMPS,,3,2024-06-02T10:00:00Z\n",
    )
    r = run_csv(db_url, redemptions, kind="redemptions", preset_name="native")
    assert r.counts["created"] == 2

    def points() -> int:
        customer = find_customer(get_engine(db_url), email="ann@example.com")
        assert customer is not None
        return int(customer["pointsEarned"])

    assert points() == 112  # earned: 12 + 100; redemptions spend, they do not un-earn
    ledger = sorted(e["delta"] for e in table_rows(db_url, "points_ledger"))
    assert ledger == [-10, 12, 100]

    # Replaying every file books nothing twice and changes nothing.
    for path, kind in ((orders, "orders"), (promos, "promotions"), (redemptions, "redemptions")):
        again = run_csv(db_url, path, kind=kind, preset_name="native")
        assert again.counts["created"] == again.counts["updated"] == 0
    assert points() == 112
    assert len(table_rows(db_url, "points_ledger")) == 3
