"""The customer object's documented types: enums, JSONString, dates, and the secret-free read model."""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from pathlib import Path

from graphql import GraphQLObjectType, build_schema
from structlog.testing import capture_logs

from api.auth import FolderMailSender, LogMailSender, Mail
from tests.api.builders import make_customer, user_id
from tests.api.conftest import Api

ALL_FIELDS = """query ($id: ID!) { consumer(id: $id) {
  id pk lastLogin extraInfo deletedAt userType email firstname lastname phoneNumber birthday gender
  country city street zipCode picture merchantType creator { pk } logo numOfOrderDiscountsAllowed
  loyaltyId entitySource entitySourceId active staff admin createdAt updatedAt archived verified
  secondaryEmail address pointsEarned
} }"""


def test_every_documented_field_is_served_in_its_documented_type(api: Api) -> None:
    pk = make_customer(
        api.engine,
        email="typed@example.com",
        gender="FEMALE",
        country="DE",
        birthday=date(1985, 12, 24),
        merchant_type=None,
        extra_info={"tags": ["vip"], "shoe": 38},
        entity_source="SALESFORCE",
        entity_source_id="003XX",
    )

    node = api.data(ALL_FIELDS, {"id": user_id(pk)}, token=api.staff_token())["consumer"]

    assert (node["gender"], node["country"], node["userType"], node["entitySource"]) == (
        "FEMALE",
        "DE",
        "CONSUMER",
        "SALESFORCE",
    )
    assert isinstance(node["extraInfo"], str)
    assert json.loads(node["extraInfo"]) == {"tags": ["vip"], "shoe": 38}
    assert node["birthday"] == "1985-12-24"
    assert node["pointsEarned"] == 0
    assert node["numOfOrderDiscountsAllowed"] == 0
    assert node["active"] is True


def test_no_output_type_has_a_password_or_hash_field() -> None:
    schema = build_schema(
        (Path(__file__).resolve().parents[2] / "graphql_client" / "schema.graphql").read_text()
    )
    output_fields = [
        name.lower()
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLObjectType) and type_.name != "Mutation"
        for name in type_.fields
    ]
    assert not [n for n in output_fields if "password" in n or "hash" in n]


def test_the_log_mail_sender_records_that_a_mail_went_out_but_not_its_token() -> None:
    with capture_logs() as logs:
        LogMailSender().send(Mail(to="jane@example.com", subject="Confirm", body="secret-token-123"))
    assert logs[0]["event"] == "mail.sent"
    assert "secret-token-123" not in repr(logs)
    assert "jane@example.com" not in repr(logs)


def test_the_folder_mail_sender_writes_owner_only_files(tmp_path: Path) -> None:
    FolderMailSender(tmp_path / "outbox").send(Mail(to="a@example.com", subject="S", body="token-xyz"))
    (written,) = (tmp_path / "outbox").iterdir()
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    assert "token-xyz" in written.read_text()
