"""A sign-up never reads what a later sync imports for its address until it proves the mailbox."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from models import Customer, CustomerSource, Order
from tests.api.builders import table
from tests.api.conftest import Api
from tests.sync.helpers import run_csv

REGISTER = """mutation ($e: String!) {
  register(email: $e, password1: "Correct-Horse-Battery-9", password2: "Correct-Horse-Battery-9", firstname: "Eve",
           lastname: "Early", userType: "CONSUMER") { success token verificationRequired }
}"""
ME = "query { consumers { count edges { node { pk email phoneNumber street firstname } } } }"
MY_ORDERS = "query { orders { count edges { node { orderId total } } } }"
VERIFY = "mutation ($t: String!) { verifyAccount(token: $t) { success errors } }"
CUSTOMERS_CSV = (
    "entitySourceId,email,firstname,lastname,phoneNumber,street\n"
    "crm-1,victim@example.com,Victoria,Real,+4915112345678,Imported Street 9\n"
)
ORDERS_CSV = "orderId,consumerEmail,store,completedAt,total\nBIG-1,victim@example.com,Downtown,2024-05-01T12:00:00Z,999.00\n"


def _import(api: Api, tmp_path: Path, name: str, text: str, kind: str = "customers") -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    summary = run_csv(api.settings.database_url, path, kind=kind, preset_name="native")
    assert summary.status == "succeeded"


def _mailed_token(api: Api) -> str:
    body = api.mailer.outbox[-1].body
    return next(line for line in body.splitlines() if line.count(".") == 2 and " " not in line)


def test_an_unverified_sign_up_does_not_receive_a_later_import_for_its_address(
    api: Api, tmp_path: Path
) -> None:
    # The attacker signs up with the victim's address before the business imports its CRM.
    signed_up = api.data(REGISTER, {"e": "victim@example.com"})["register"]
    assert signed_up["success"] is True
    token = signed_up["token"]
    _import(api, tmp_path, "crm.csv", CUSTOMERS_CSV)
    _import(api, tmp_path, "orders.csv", ORDERS_CSV, kind="orders")

    me = api.data(ME, token=token)["consumers"]
    assert me["count"] == 1
    node = me["edges"][0]["node"]
    assert (node["street"], node["phoneNumber"], node["firstname"]) == (None, None, "Eve")
    assert api.data(MY_ORDERS, token=token)["orders"]["count"] == 0
    # The import is kept, on a customer of its own: nothing is lost.
    with api.engine.connect() as conn:
        customers = conn.execute(sa.select(table(Customer)).order_by(table(Customer).c.pk)).all()
        imported = conn.execute(
            sa.select(table(CustomerSource)).where(table(CustomerSource).c.source_id == "crm-1")
        ).one()
        order = conn.execute(sa.select(table(Order))).one()
    assert len(customers) == 2
    assert imported.customer_pk == customers[1].pk != node["pk"]
    assert order.customer_pk == customers[1].pk


def test_verifying_the_mailbox_merges_the_import_by_the_golden_rule(api: Api, tmp_path: Path) -> None:
    signed_up = api.data(REGISTER, {"e": "victim@example.com"})["register"]
    _import(api, tmp_path, "crm.csv", CUSTOMERS_CSV)
    _import(api, tmp_path, "orders.csv", ORDERS_CSV, kind="orders")

    verified = api.data(VERIFY, {"t": _mailed_token(api)})["verifyAccount"]
    assert verified == {"success": True, "errors": None}

    me = api.data(ME, token=signed_up["token"])["consumers"]["edges"][0]["node"]
    # What the person typed wins (internal source); the import fills the rest.
    assert (me["firstname"], me["street"], me["phoneNumber"]) == (
        "Eve",
        "Imported Street 9",
        "+4915112345678",
    )
    assert api.data(MY_ORDERS, token=signed_up["token"])["orders"]["edges"] == [
        {"node": {"orderId": "BIG-1", "total": "999.00"}}
    ]
    with api.engine.connect() as conn:
        active = (
            conn.execute(sa.select(table(Customer).c.pk).where(table(Customer).c.active.is_(True)))
            .scalars()
            .all()
        )
    assert active == [me["pk"]]

    # A replay of the import changes nothing and stays with the verified customer.
    _import(api, tmp_path, "crm.csv", CUSTOMERS_CSV)
    with api.engine.connect() as conn:
        source = conn.execute(
            sa.select(table(CustomerSource)).where(table(CustomerSource).c.source_id == "crm-1")
        ).one()
    assert source.customer_pk == me["pk"]


def test_a_verified_sign_up_receives_a_later_import_directly(api: Api, tmp_path: Path) -> None:
    signed_up = api.data(REGISTER, {"e": "owner@example.com"})["register"]
    assert api.data(VERIFY, {"t": _mailed_token(api)})["verifyAccount"]["success"] is True
    _import(api, tmp_path, "crm.csv", CUSTOMERS_CSV.replace("victim@", "owner@"))

    me = api.data(ME, token=signed_up["token"])["consumers"]
    assert me["count"] == 1
    assert me["edges"][0]["node"]["street"] == "Imported Street 9"


def test_signing_up_after_a_sync_still_asks_for_verification(api: Api, tmp_path: Path) -> None:
    _import(api, tmp_path, "crm.csv", CUSTOMERS_CSV)
    claimed = api.data(REGISTER, {"e": "victim@example.com"})["register"]
    assert (claimed["success"], claimed["token"], claimed["verificationRequired"]) == (True, None, True)
