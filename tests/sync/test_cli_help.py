"""`customer-sync … --help` for every command, read on an 80-column terminal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from sync.cli import app

WIDTH = 80
# A panel's frame and the table rule: not prose.
_FRAME = tuple("╭╰│─")


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*path, name))


COMMANDS = list(_command_paths(typer.main.get_command(app)))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_walk_reaches_the_sub_apps_commands() -> None:
    reached = {" ".join(path) for path in COMMANDS}
    assert {"runs list", "db upgrade", "customers get", "sync spotify", "import csv"} <= reached


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "customer-sync")
def test_help_names_each_value_plainly_and_fits_80_columns(path: tuple[str, ...]) -> None:
    shown = _help(path)
    # Flags take no value; values read PATH, TEXT, INTEGER, never `<bool>`, `<str>` or `{path}`.
    assert not re.search(r"<\w[\w |]*>", shown), shown
    assert "{" not in shown and "}" not in shown, shown
    assert all(len(line) <= WIDTH for line in shown.splitlines()), shown


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "customer-sync")
def test_help_text_wraps_at_the_width_not_where_the_docstring_breaks(path: tuple[str, ...]) -> None:
    prose = [line.strip() for line in _help(path).splitlines() if not line.lstrip().startswith(_FRAME)]
    for line, following in pairwise(prose):
        if line and following:
            # Wrapped at the width, a line ends only where the next word would not have fitted.
            next_word = following.split()[0]
            assert len(line) + 1 + len(next_word) > WIDTH - 2, f"broken early: {line!r} / {following!r}"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "customer-sync")
def test_a_list_of_choices_is_never_broken_inside_a_word(path: tuple[str, ...]) -> None:
    """`--kind [customers|orders|promotio` / `ns|redemptions]` read as two words: a list of
    choices either fits its line whole or is in the option's help text, where it wraps at spaces."""
    for line in _help(path).splitlines():
        assert not re.search(r"\[[\w-]+\|[^\]]*(│|$)", line.rstrip(" │") + "│"), line
