"""The committed schema and the `.graphql` files stay what the server and the seed say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

from api import export_schema
from graphql_client import OPERATIONS, document
from tests.shared import shared_file

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "graphql_client" / "schema.graphql"


def test_the_committed_schema_matches_the_server() -> None:
    exported = export_schema()
    assert COMMITTED.read_text("utf-8") == exported, (
        "the schema drifted: regenerate with "
        "`python -c 'import api; print(api.export_schema(), end=\"\")' > graphql_client/schema.graphql`"
    )


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_operation_validates_against_the_committed_schema(name: str) -> None:
    schema = build_schema(COMMITTED.read_text("utf-8"))
    assert validate(schema, parse(document(name))) == []


def _seed_documents(text: str) -> dict[str, str]:
    inline = re.findall(r"`+gql ((?:mutation|query)[^`]*?) `+", text)
    fenced = re.findall(r"```gql\n(.*?)```", text, re.S)
    # The purchase-history block ends with a stray "`" line (a markdown slip, not GraphQL).
    fenced = [re.sub(r"\n`\n\Z", "\n", block) for block in fenced]
    return dict(zip(OPERATIONS, [*inline, *fenced], strict=True))


def test_the_operation_files_are_the_seed_documents_verbatim() -> None:
    seed = shared_file("seeds", "001_83772da4963eb312.txt")  # fails, never skips, when missing
    for name, text in _seed_documents(seed.read_text("utf-8")).items():
        assert document(name).rstrip("\n") == text.rstrip("\n"), name
