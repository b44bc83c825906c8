"""Importing one CSV export: choose its layout, open a run, and run the pipeline in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from connectors import FatalSourceError
from connectors.csv import CsvFile, CsvStream
from models import SyncRun, ensure_schema
from sync.mapping import Layout, detect_layout, load_mapping, preset
from sync.pipeline import RunSummary, create_run, execute_run
from sync.settings import Settings


def choose_layout(path: Path, kind: str, preset_name: str | None, mapping: Path | None) -> Layout:
    """The layout named by the user, or the one the header reveals."""
    if preset_name and mapping:
        raise FatalSourceError("give either --preset or --mapping, not both")
    if mapping:
        return load_mapping(mapping, kind)
    if preset_name:
        return preset(preset_name, kind)
    return detect_layout(CsvFile(path).layout.header, kind)


def import_csv(
    settings: Settings,
    path: Path,
    *,
    kind: str = "customers",
    preset_name: str | None = None,
    mapping: Path | None = None,
    source_name: str | None = None,
    trigger: str = "cli",
    run_id: str | None = None,
    on_batch: Callable[[CsvStream, dict[str, int]], None] | None = None,
) -> RunSummary:
    """Import `path` into the store and return the run summary.

    Raises FatalSourceError, before any run is recorded, when the file or layout is unusable.
    """
    layout = choose_layout(path, kind, preset_name, mapping)
    ref = {"mapping": str(mapping.resolve())} if mapping else {"preset": layout.name}
    stream = CsvStream(path, source_name or layout.source, layout.entity_source, kind, ref)
    engine = ensure_schema(settings.database_url)
    run_id = create_run(engine, stream, entity_kind=kind, mode="full", trigger=trigger, run_id=run_id)
    callback = (lambda counts: on_batch(stream, counts)) if on_batch else None
    return execute_run(engine, settings, stream, layout.spec, run_id, on_batch=callback)


def resume_csv(
    settings: Settings,
    run_id: str,
    *,
    on_batch: Callable[[CsvStream, dict[str, int]], None] | None = None,
) -> RunSummary:
    """Carry a stopped CSV run on from its last committed batch, if its file is unchanged."""
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
    params = dict(run["params"] or {})
    path = Path(params["path"])
    kind = str(params.get("kind", "customers"))
    mapping = Path(params["mapping"]) if params.get("mapping") else None
    layout = choose_layout(path, kind, None if mapping else params.get("preset"), mapping)
    ref = {"mapping": str(mapping)} if mapping else {"preset": layout.name}
    stream = CsvStream(path, run["source"], layout.entity_source, kind, ref)
    if stream.file.sha256() != params.get("sha256"):
        raise FatalSourceError(f"{path} changed since run {run_id} read it; import it afresh instead")
    callback = (lambda counts: on_batch(stream, counts)) if on_batch else None
    return execute_run(engine, settings, stream, layout.spec, run_id, on_batch=callback)
