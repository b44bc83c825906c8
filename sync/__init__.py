"""The worker: mapping/, load/, pipeline/, jobs/ (one per source), cli/ and tasks/; settings and log."""

from __future__ import annotations

__all__: list[str] = []
