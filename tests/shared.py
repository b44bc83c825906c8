"""Where `shared/` is: beside the checkout (`../shared`), as on CI; a missing one fails the test loudly.

`shared/` holds what the tests compare the product with (the seed documentation, the real wire
formats). A test that needs it and does not find it must fail, never skip: a skip would pass
on a machine that checks nothing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


def _main_checkout(project: Path) -> Path | None:
    """For a git worktree (`.git` is a file naming `<main>/.git/worktrees/<name>`), the main checkout."""
    dotgit = project / ".git"
    if not dotgit.is_file():
        return None
    text = dotgit.read_text(encoding="utf-8").strip()
    if not text.startswith("gitdir:"):
        return None
    gitdir = (project / text.removeprefix("gitdir:").strip()).resolve()
    commondir = gitdir / "commondir"
    common = (
        (gitdir / commondir.read_text(encoding="utf-8").strip()).resolve() if commondir.is_file() else None
    )
    return common.parent if common is not None and common.name == ".git" else None


def candidates(project: Path) -> list[Path]:
    """`../shared` beside the project and, for a worktree, beside its main checkout."""
    found = [project.parent / "shared"]
    main = _main_checkout(project)
    if main is not None and main.parent / "shared" not in found:
        found.append(main.parent / "shared")
    return found


def find_shared(project: Path = PROJECT) -> Path:
    """The `shared/` directory beside the project; fails the calling test when there is none."""
    looked = candidates(project)
    for candidate in looked:
        if candidate.is_dir():
            return candidate
    pytest.fail(
        "shared/ is missing (looked in " + ", ".join(str(p) for p in looked) + "): the tests compare "
        "the product with the seed documentation and the real wire formats kept there",
        pytrace=False,
    )


@cache
def shared_dir() -> Path:
    """`find_shared()` for this checkout, looked up once."""
    return find_shared()


def shared_file(*parts: str) -> Path:
    """A file under shared/; fails the calling test loudly when it is missing."""
    path = shared_dir().joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"{path} is missing from shared/", pytrace=False)
    return path
