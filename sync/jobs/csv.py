"""Importing one CSV export: choose its layout, open a run, and run the pipeline in-process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors import FatalSourceError, ReadWarning
from connectors.csv import (
    STDIN,
    ByteRange,
    CsvFile,
    CsvRangeStream,
    CsvRow,
    CsvStream,
    can_split,
    local_copy,
)
from models import COUNT_FIELDS, SyncRun, ensure_schema, utcnow
from models.enums import RunStatus
from sync.load import apply_priorities
from sync.mapping import (
    ColumnSurvey,
    Layout,
    MappingSpec,
    RepeatFinder,
    Repeats,
    apply_survey,
    bind_layout,
    check_timezone,
    column_destinations,
    damaged_id_warning,
    detect_layout,
    id_cells,
    load_mapping,
    preset,
    survey_key,
)
from sync.pipeline import (
    ChunkPlan,
    Lease,
    RunSummary,
    create_run,
    execute_run,
    fail_chunk,
    finish_chunked_run,
    new_run_id,
    pause_interrupted,
    plan_chunks,
    run_chunk,
    run_stream,
    run_summary,
    stops_recorded,
    take_stream,
)
from sync.settings import SOURCE_NAME_RULE, Settings, sign_up_family, usable_source_name

# A run records the ids its file repeats (with its params) when there are at most this many:
# its resumes and a nightly run of the same file then need no pass to find them again.
KEPT_REPEATS = 10_000


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
    timezone: str | None = None,
    on_batch: Callable[[CsvStream, dict[str, int]], None] | None = None,
) -> RunSummary:
    """Import `path` (`-`: standard input) into the store and return the run summary.

    Raises FatalSourceError, before any run is recorded, when the file or layout is unusable.
    """
    with local_copy(path) as readable:
        stream, layout = _open(
            readable,
            kind,
            preset_name,
            mapping,
            source_name,
            origin=str(path),
            timezone=timezone,
            store=lambda: ensure_schema(settings.database_url),
        )
        engine = ensure_schema(settings.database_url)
        run_id = create_run(engine, stream, entity_kind=kind, mode="full", trigger=trigger, run_id=run_id)
        return _run_in_order(engine, settings, stream, layout, run_id, on_batch)


def with_layout(summary: RunSummary, stream: CsvStream, layout: Layout) -> RunSummary:
    """The summary naming the layout the file was read with, where each column went, and the
    encoding it was read in (a wrong guess shows there, not in the names later)."""
    name = f"mapping {layout.name}" if layout.origin == "mapping" else layout.name
    return replace(
        summary,
        layout=name,
        columns=column_destinations(layout.spec, stream.file.layout.header),
        encoding=stream.file.layout.encoding,
    )


def resume_csv(
    settings: Settings,
    run_id: str,
    *,
    on_batch: Callable[[CsvStream, dict[str, int]], None] | None = None,
) -> RunSummary:
    """Carry a stopped CSV run on from its last committed batch(es), if its file is unchanged.

    Raises StreamBusy while the run's own lease is held by a live process.
    """
    outcome = run_csv(settings, run_id, on_batch=on_batch)
    assert isinstance(outcome, RunSummary)  # without fan_out it always runs here
    return outcome


@dataclass(frozen=True, slots=True)
class FanOut:
    """A run cut into chunks: the chunks still to load, one task each."""

    run_id: str
    chunks: list[ChunkPlan]


def queue_csv(
    settings: Settings,
    path: Path,
    *,
    kind: str = "customers",
    preset_name: str | None = None,
    mapping: Path | None = None,
    source_name: str | None = None,
    trigger: str = "cli",
    run_id: str | None = None,
    task_id: str | None = None,
    timezone: str | None = None,
) -> str:
    """Record a `queued` run importing `path` (kept as it is if `run_id` exists) and return its id.

    Raises FatalSourceError, before any run is recorded, when the file or layout is unusable.
    """
    engine = ensure_schema(settings.database_url)
    if run_id and _run_params(engine, run_id) is not None:
        return run_id
    stream, _ = _open(path, kind, preset_name, mapping, source_name, timezone=timezone, store=lambda: engine)
    return create_run(
        engine,
        stream,
        entity_kind=kind,
        mode="full",
        trigger=trigger,
        run_id=run_id,
        status=RunStatus.QUEUED,
        task_id=task_id,
    )


def record_unusable_csv(
    settings: Settings,
    run_id: str,
    path: Path,
    *,
    kind: str,
    preset_name: str | None,
    mapping: Path | None,
    source_name: str | None,
    trigger: str,
    task_id: str | None,
    error: str,
    timezone: str | None = None,
) -> None:
    """A run that could not even open its file, recorded `failed` so operators see why.

    Its params name the file and layout, so the same task re-applied once the cause is
    fixed (the file arrives, the mapping is corrected) imports it under the same run.
    """
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    params: dict[str, Any] = {"path": str(path.resolve()), "kind": kind}
    params.update({"mapping": str(mapping.resolve())} if mapping else {"preset": preset_name})
    if timezone:
        params["timezone"] = timezone
    with engine.begin() as conn:
        exists = conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first()
        values = {"status": RunStatus.FAILED, "error": error[:2000], "task_id": task_id}
        if exists:
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(values))
            return
        run = SyncRun(
            id=run_id,
            source=source_name or "csv",
            stream="file" if kind == "customers" else f"file:{kind}",
            trigger=trigger,
            params={**params, "source_name": source_name},
            finished_at=utcnow(),
            status=RunStatus.FAILED,
            error=error[:2000],
            task_id=task_id,
        )
        conn.execute(sa.insert(runs).values(**run.model_dump()))


def run_csv(
    settings: Settings,
    run_id: str,
    *,
    token: str | None = None,
    fan_out: bool = False,
    on_batch: Callable[[CsvStream, dict[str, int]], None] | None = None,
) -> RunSummary | FanOut:
    """Carry a recorded CSV run to its end in this process, or cut it into chunks.

    With `fan_out`, a customers file of at least `csv_fanout_min_bytes` is cut into byte
    ranges (once per run) and the chunks not yet done are returned for the worker to send.
    """
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    if run is None:
        raise FatalSourceError(f"no run {run_id!r}")
    if run["status"] in (RunStatus.SUCCEEDED, RunStatus.SKIPPED):
        return RunSummary(run_id, run["status"], {k: run[k] for k in COUNT_FIELDS}, run["error"])
    _refuse_overtaken(engine, run)
    stream, layout = _reopen(engine, run)
    kind = stream.kind
    chunked = bool((run["checkpoint"] or {}).get("chunks"))
    big = stream.file.size >= settings.csv_fanout_min_bytes and can_split(stream.file)
    if (
        fan_out
        and kind == "customers"
        and (chunked or (big and not (run["checkpoint"] or {}).get("records")))
    ):
        lease = Lease(run["source"], run["stream"], run_id, token or new_run_id(), settings.run_lease_seconds)
        skipped = take_stream(engine, lease, run, fresh=not chunked)
        if skipped is not None:
            return skipped
        # As execute_run does first: a changed SOURCE_PRIORITY reaches the rows stored before.
        apply_priorities(engine, settings.source_priority, settings.priority_of)
        return FanOut(run_id, plan_chunks(engine, settings, run_id, stream.path))
    if chunked:
        # Chunks already began (under a worker); this process loads what is left of them.
        return _run_chunks_here(engine, settings, run_id, token or new_run_id())
    return _run_in_order(engine, settings, stream, layout, run_id, on_batch, token)


def _run_in_order(
    engine: sa.Engine,
    settings: Settings,
    stream: CsvStream,
    layout: Layout,
    run_id: str,
    on_batch: Callable[[CsvStream, dict[str, int]], None] | None,
    token: str | None = None,
) -> RunSummary:
    """Run (or resume) `run_id` over the whole file in this process, top to bottom, knowing
    the ids it repeats (`repeats_of`); its summary names the layout."""
    callback = (lambda counts: on_batch(stream, counts)) if on_batch else None
    try:
        repeats = repeats_of(stream, layout.spec)
        summary = execute_run(
            engine, settings, stream, layout.spec, run_id, on_batch=callback, token=token, repeats=repeats
        )
    except KeyboardInterrupt as exc:
        # Also while the file is read through for its repeated ids, before any batch.
        pause_interrupted(engine, run_id, exc)
        raise
    return with_layout(summary, stream, layout)


def run_csv_chunk(
    settings: Settings, run_id: str, index: int, token: str, span: tuple[int, int] | None = None
) -> bool:
    """Load one chunk of a fanned-out run; True when the run has no chunk left to load.

    `span`, the byte range the task was sent with, must be the chunk's recorded one.
    """
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
    stream, layout = _reopen(engine, run, check_content=False)

    def stream_for(span: ByteRange) -> CsvRangeStream:
        chunk = CsvRangeStream(
            stream.path, span, stream.source_name, stream.entity_source, stream.kind, stream.layout_ref
        )
        chunk.file_warnings = stream.file_warnings
        return chunk

    return run_chunk(engine, settings, stream_for, layout.spec, run_id, index, token, span)


def _run_chunks_here(engine: sa.Engine, settings: Settings, run_id: str, token: str) -> RunSummary:
    """Load a fanned-out run's chunks left in this process, one after the other, then close it.

    A chunk that stops on an error fails, and the run with it, as a worker's chunk task does
    when it gives up; a failure outside any chunk fails the run alone.
    """
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
    lease = Lease(run["source"], run["stream"], run_id, token, settings.run_lease_seconds)
    take_stream(engine, lease, run, fresh=False)
    with stops_recorded(engine, run_id):
        with engine.begin() as conn:
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(task_id=None))
        for chunk in plan_chunks(engine, settings, run_id, Path(run["params"]["path"])):
            with stops_recorded(engine, run_id, partial(fail_chunk, engine, run_id, chunk.index)):
                run_csv_chunk(settings, run_id, chunk.index, token)
        finish_chunked_run(engine, run_id)
    return run_summary(engine, run_id)


def check_resumable_csv(settings: Settings, run_id: str) -> None:
    """Raise FatalSourceError when the CSV run cannot be carried on (its file gone or changed).

    The very check run_csv makes before resuming, so `runs retry` can refuse up front
    instead of queueing a task that can only fail.
    """
    engine = ensure_schema(settings.database_url)
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    if run is None:
        raise FatalSourceError(f"no run {run_id!r}")
    _reopen(engine, run)


def _run_params(engine: sa.Engine, run_id: str) -> dict[str, Any] | None:
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(sa.select(runs.c.params).where(runs.c.id == run_id)).first()
    return None if row is None else dict(row.params or {})


def survey_columns(stream: CsvStream, spec: MappingSpec, *, repeats: bool = False) -> ColumnSurvey:
    """What the file's columns show as a whole: each date column's order, damaged id columns,
    and with `repeats` the ids it reads more than once (`ColumnSurvey.repeats`).

    The proof may be on the last line, so those columns are read once through before the
    import (streamed; nothing is kept but the repeated ids).
    """
    header = stream.file.layout.header
    survey = ColumnSurvey(spec, header, repeats=repeats)
    if not survey.wanted:
        return survey
    _read_through(stream, lambda line, cells: survey.add(cells, line), survey.add_lines)
    return survey


def find_repeats(stream: CsvStream, spec: MappingSpec) -> Repeats:
    """The ids `stream`'s file reads on more than one line, and the last line of each.

    Read once through before the run (streamed: the ids are kept as bits of their hashes, only
    repeated ones by name), so that a line the file itself supersedes is never applied.
    """
    layout = stream.file.layout
    finder = RepeatFinder.for_spec(spec, layout.header)
    if finder is None:
        return Repeats()
    _read_through(stream, finder.add, finder.add_lines)
    return finder.repeats()


def _read_through(
    stream: CsvStream,
    add: Callable[[int, list[str]], None],
    add_lines: Callable[[int, list[str], str], None],
) -> None:
    """Each row of the file once, for a pass before the run: most exports are plain lines,
    given many at a time unsplit (`add_lines(first line, lines, delimiter)`), no record
    objects; the rest row by row as cells (`add(line, cells)`), unreadable rows left out."""
    delimiter = stream.file.layout.delimiter or ","
    for part in stream.file.read_unsplit():
        if type(part) is CsvRow:
            if part.cells is not None:
                add(part.line, part.cells)
        else:
            add_lines(part.first, part.lines, delimiter)  # type: ignore[union-attr]


def _surveyed_before(
    engine: sa.Engine, stream: CsvStream, key: str
) -> tuple[dict[str, str], dict[str, Any], dict[str, int] | None] | None:
    """What the latest run of `stream`'s source whose survey had `key` found (date orders, id
    damage, repeated ids if it kept them); None when no run did."""
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        params = conn.execute(
            sa.select(runs.c.params)
            .where(
                runs.c.source == stream.source_name,
                runs.c.stream == run_stream(stream, stream.kind),
                runs.c.params["survey"].as_string() == key,
            )
            .order_by(runs.c.started_at.desc())
            .limit(1)
        ).scalar()
    if params is None:
        return None
    repeats = params.get("repeats")
    return (
        dict(params.get("date_orders") or {}),
        dict(params.get("id_damage") or {}),
        dict(repeats) if repeats is not None else None,
    )


def _layout_ref(layout: Layout, mapping: Path | None) -> dict[str, Any]:
    # How the layout was chosen, so that a resume or a chunk chooses it the same way.
    if mapping:
        return {"mapping": str(mapping.resolve())}
    if layout.origin == "header":
        return {"layout": layout.name}  # read off the header again
    return {"preset": layout.name}


def _open(
    path: Path,
    kind: str,
    preset_name: str | None,
    mapping: Path | None,
    source_name: str | None,
    *,
    origin: str | None = None,
    date_orders: dict[str, str] | None = None,
    id_damage: dict[str, Any] | None = None,
    timezone: str | None = None,
    repeats: dict[str, int] | None = None,
    store: Callable[[], sa.Engine] | None = None,
) -> tuple[CsvStream, Layout]:
    """The file's stream and its layout fitted to its header and to what its columns show.

    `date_orders` and `id_damage` (recorded with the run) spare a chunk or a resume reading
    the file again; so does an earlier run in the `store` that surveyed the very same file
    under the very same spec (`survey_key`), as a nightly sync of an unchanged export. The
    store is opened only then, once the file and its layout proved usable: a command that
    fails on them writes nothing.
    """
    layout = choose_layout(path, kind, preset_name, mapping)
    ref = _layout_ref(layout, mapping)
    if timezone:
        # Given for this file, it wins over the layout's own.
        try:
            layout = replace(layout, spec=replace(layout.spec, timezone=check_timezone(timezone)))
        except ValueError as exc:
            raise FatalSourceError(str(exc)) from None
        ref["timezone"] = timezone
    source = source_name or layout.source
    if not usable_source_name(source):
        raise FatalSourceError(f"the source name {source!r} is not usable: {SOURCE_NAME_RULE}")
    if sign_up_family(source):
        # Written under it, a file would rewrite what people typed into their own accounts.
        raise FatalSourceError(
            f"the source name {source!r} is the API's own (sign-ups and profile edits); "
            "give the file another one with --source-name"
        )
    stream = CsvStream(path, source, layout.entity_source, kind, ref, origin=origin)
    file = stream.file.layout
    layout, _ = bind_layout(layout, file.header, file.duplicates)
    if date_orders is None:
        surveyed = None
        survey = ColumnSurvey(layout.spec, file.header)
        if survey.wanted:
            # Recorded with the run (`describe`), so that a later run of this file finds it.
            key = stream.layout_ref["survey"] = survey_key(stream.file.sha256(), layout.spec)
            surveyed = _surveyed_before(store(), stream, key) if store is not None else None
        if surveyed is None:
            survey = survey_columns(stream, layout.spec, repeats=True)
            surveyed = survey.date_orders(), survey.id_damage(), survey.repeats().last
        date_orders, id_damage, repeats = surveyed
    stream.layout_ref["date_orders"] = date_orders
    if id_damage:
        stream.layout_ref["id_damage"] = id_damage
    spec = apply_survey(layout.spec, date_orders, id_damage or {})
    if (id_damage or {}).get("columns"):
        # Found under id columns the run no longer keys on: looked for again, if it keys on any.
        repeats = None if id_cells(spec, file.header) else {}
    if repeats is not None:
        stream.repeated_ids = repeats
        if len(repeats) <= KEPT_REPEATS:
            # Recorded with the run too: its resumes and a later run of this file take them.
            stream.layout_ref["repeats"] = repeats
    warning = damaged_id_warning(id_damage or {})
    if warning is not None:
        stream.file_warnings.append(ReadWarning(*warning, position=1))
    return stream, replace(layout, spec=spec)


def repeats_of(stream: CsvStream, spec: MappingSpec) -> Repeats:
    """The ids `stream`'s file reads more than once: as its run found them, else read now."""
    if stream.repeated_ids is None:
        stream.repeated_ids = find_repeats(stream, spec).last
    return Repeats(stream.repeated_ids)


def _refuse_overtaken(engine: sa.Engine, run: sa.RowMapping) -> None:
    """Refuse to carry on a run that has loaded part of its file when a later run of the same
    source and stream has written rows since: the rest of this file would land over the
    later one's rows, leaving the store neither file's (review F13: a resumed run brought
    94,000 customers back to the older file's city). Importing the file afresh applies it
    whole, after the later one.

    Raises FatalSourceError naming the later run.
    """
    if not run["read"] and not (run["checkpoint"] or {}).get("chunks"):
        return  # nothing loaded yet: starting now is no resume
    runs = SyncRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        later = conn.execute(
            sa.select(runs.c.id)
            .where(runs.c.source == run["source"], runs.c.stream == run["stream"], runs.c.id != run["id"])
            # Rows it wrote: one that only rejected or found rows unchanged changed nothing.
            .where(runs.c.started_at > run["started_at"])
            .where(runs.c.created + runs.c.updated + runs.c.deleted > 0)
            .order_by(runs.c.started_at.desc())
            .limit(1)
        ).scalar()
    if later is not None:
        raise FatalSourceError(
            f"run {later} imported {run['source']}/{run['stream']} after run {run['id']} began:"
            " carrying this one on would put the rest of its file over that run's rows;"
            " import the file afresh instead"
        )


def _reopen(engine: sa.Engine, run: sa.RowMapping, *, check_content: bool = True) -> tuple[CsvStream, Layout]:
    """The run's stream and layout again, from its params; refuses a file changed under it."""
    params = dict(run["params"] or {})
    if params.get("path") == STDIN:
        raise FatalSourceError(
            f"run {run['id']} read standard input, which cannot be read again; import the file afresh"
        )
    path = Path(params["path"])
    kind = str(params.get("kind", "customers"))
    mapping = Path(params["mapping"]) if params.get("mapping") else None
    stream, layout = _open(
        path,
        kind,
        None if mapping else params.get("preset"),
        mapping,
        run["source"],
        date_orders=params.get("date_orders"),
        id_damage=params.get("id_damage"),
        timezone=params.get("timezone"),
        repeats=params.get("repeats"),
    )
    if "sha256" not in params:
        # Recorded before its file could be read (see record_unusable_csv): describe it now.
        runs = SyncRun.__table__  # type: ignore[attr-defined]
        with engine.begin() as conn:
            conn.execute(sa.update(runs).where(runs.c.id == run["id"]).values(params=stream.describe()))
    elif check_content and stream.file.sha256() != params["sha256"]:
        raise FatalSourceError(f"{path} changed since run {run['id']} read it; import it afresh instead")
    return stream, layout
