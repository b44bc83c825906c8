"""The `customer-sync` console script: the CLI, with Ctrl-C during its start-up one line too."""

from __future__ import annotations

import sys


def main() -> None:
    """Load the CLI and run it; Ctrl-C while its modules load prints `interrupted`, exit 130.

    Loading them takes the better part of a second (SQLAlchemy, pydantic, rich): a Ctrl-C then
    showed a traceback of imports. Once loaded, each command handles Ctrl-C itself.
    """
    try:
        from sync.cli import app
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    app()
