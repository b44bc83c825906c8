"""shared/ is found beside the checkout (or beside a worktree's main checkout), and its absence fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared import PROJECT, candidates, find_shared, shared_dir


def test_this_checkout_finds_shared_with_the_seed_and_the_fixtures() -> None:
    shared = shared_dir()
    assert shared in candidates(PROJECT)  # found by its place beside the checkout, not by a fixed path
    assert (shared / "seeds" / "001_83772da4963eb312.txt").is_file()
    assert (shared / "fixtures" / "salesforce").is_dir()


def test_shared_beside_a_plain_checkout(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "shared").mkdir()
    assert find_shared(tmp_path / "project") == tmp_path / "shared"


def test_a_worktree_finds_shared_beside_its_main_checkout(tmp_path: Path) -> None:
    gitdir = tmp_path / "main" / ".git" / "worktrees" / "feature"
    gitdir.mkdir(parents=True)
    (gitdir / "commondir").write_text("../..\n", encoding="utf-8")
    (tmp_path / "shared").mkdir()
    worktree = tmp_path / "wt" / "feature"
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {gitdir}\n", encoding="utf-8")
    assert find_shared(worktree) == tmp_path / "shared"


def test_a_missing_shared_fails_loudly_and_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    with pytest.raises(pytest.fail.Exception, match=r"shared/ is missing \(looked in .*shared\)"):
        find_shared(tmp_path / "project")
