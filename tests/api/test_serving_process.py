"""`customer-sync serve` tunes its interpreter before uvicorn runs: the startup heap frozen, a short switch interval."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import api.app
import models
from api.process import SWITCH_INTERVAL_S, prepare_serving_process


@pytest.fixture
def restored() -> Iterator[None]:
    """This test process as it was: nothing frozen, the default switch interval."""
    interval = sys.getswitchinterval()
    yield
    gc.unfreeze()
    sys.setswitchinterval(interval)


def test_preparing_the_process_freezes_the_heap_and_shortens_the_switch_interval(restored: None) -> None:
    prepare_serving_process()

    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    # The modules and the app built so far are out of the collector's walks.
    assert gc.get_freeze_count() > 10_000


def test_serve_prepares_the_process_after_building_the_app_and_before_uvicorn_runs(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    built = object()
    monkeypatch.setattr(api.app, "create_app", lambda: built)
    monkeypatch.setattr(models, "ensure_schema", lambda _url: None)

    def run(app: object, **options: Any) -> None:
        seen.update(app=app, frozen=gc.get_freeze_count(), interval=sys.getswitchinterval(), **options)

    monkeypatch.setattr(api.app.uvicorn, "run", run)

    api.app.serve(port=8123)

    assert seen["app"] is built
    assert seen["frozen"] > 0
    assert seen["interval"] == pytest.approx(SWITCH_INTERVAL_S)
    assert seen["port"] == 8123
