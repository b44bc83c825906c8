"""What `pip install .` ships: every package-data pattern names real files, and the migrations go too."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_data_pattern_matches_a_file() -> None:
    empty = [
        f"{package}: {pattern}"
        for package, patterns in SETUPTOOLS["package-data"].items()
        for pattern in patterns
        if not any((ROOT / package.replace(".", "/")).glob(pattern))
    ]
    assert empty == []


def test_the_migrations_are_in_the_installed_packages() -> None:
    shipped = set(find_packages(str(ROOT), include=SETUPTOOLS["packages"]["find"]["include"]))
    assert {"models.migrations", "models.migrations.versions"} <= shipped
    assert list((ROOT / "models/migrations/versions").glob("0001_*.py"))
    assert "script.py.mako" in SETUPTOOLS["package-data"]["models.migrations"]
