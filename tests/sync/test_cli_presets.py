"""`customer-sync presets list|show`: what each preset reads, checked before importing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sync.cli import app
from sync.mapping import PRESETS

EXE = Path(sys.executable).with_name("customer-sync")


def test_presets_list_names_every_preset_with_its_file_and_key() -> None:
    result = CliRunner().invoke(app, ["presets", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in PRESETS:
        assert name in result.output
    assert "Google Contacts export (Google CSV)" in result.output
    assert "Klaviyo ID" in result.output


@pytest.mark.parametrize("width", ["80", "40"])
def test_presets_list_never_cuts_a_name_on_a_narrow_terminal(width: str) -> None:
    result = CliRunner().invoke(app, ["presets", "list"], env={"COLUMNS": width})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= int(width) for line in lines)
    # Each name whole, in the first column: what `presets show NAME` is typed with.
    names = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert [n for n in names if n] == list(PRESETS)


def test_presets_list_json_gives_each_presets_whole_mapping() -> None:
    result = CliRunner().invoke(app, ["presets", "list", "--json"])
    assert result.exit_code == 0, result.output
    presets = {p["name"]: p for p in json.loads(result.stdout)}
    assert list(presets) == list(PRESETS)
    assert presets["hubspot"]["fields"]["birthday"] == ["Date of birth"]
    assert presets["hubspot"]["id"] == ["Record ID"]
    assert presets["google-contacts"]["multi_value_separator"] == " ::: "
    assert set(presets["google-contacts"]["detect"]) == {"current", "older"}


def test_presets_show_prints_where_each_column_goes() -> None:
    result = CliRunner().invoke(app, ["presets", "show", "outlook"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "E-mail Address" in result.output and "Mobile Phone, Primary Phone, Home Phone" in result.output
    assert "source id: derived from e-mail, else phone" in result.output
    assert "recognised by its outlook.com header (61 columns)" in result.output


def test_presets_show_json_and_native_of_another_kind() -> None:
    shown = json.loads(CliRunner().invoke(app, ["presets", "show", "klaviyo", "--json"]).stdout)
    assert (shown["source"], shown["id"], shown["fields"]["email"]) == ("klaviyo", ["Klaviyo ID"], ["Email"])
    orders = json.loads(
        CliRunner().invoke(app, ["presets", "show", "native", "--kind", "orders", "--json"]).stdout
    )
    assert orders["kind"] == "orders" and orders["id"] == ["orderId"]


def test_an_unknown_preset_or_a_preset_of_another_kind_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY", "REDIS"))}
    for args, expected in (
        (["presets", "show", "excel97"], "unknown preset 'excel97'"),
        (["presets", "show", "shopify", "--kind", "orders"], "preset 'shopify' reads customers, not orders"),
    ):
        result = subprocess.run(
            [str(EXE), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], lines
    helped = CliRunner().invoke(app, ["presets", "show", "--help"])
    assert helped.exit_code == 0 and "--json" in helped.output and "--kind" in helped.output
