"""Import methods of the speed benchmark: this project, the COPY floor, dlt merge and the row-by-row ORM."""

from __future__ import annotations

import csv
import hashlib
import multiprocessing
import os
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from bench.exports import CUSTOMER_HEADER
from connectors.base import ReadError, StreamContext
from connectors.csv import CsvStream
from models import GOLDEN_FIELDS, Customer, CustomerSource, get_engine, utcnow
from sync.jobs import import_csv
from sync.log import configure_logging
from sync.mapping import Draft, load_mapping, map_record, new_loyalty_id
from sync.pipeline import SUMMARY_KEYS
from sync.settings import Settings

MAPPING = Path(__file__).with_name("customers.toml")
SOURCE = "bench"
FIRST, UNCHANGED, CHANGED = "first import", "unchanged re-import", "1 % changed"
PHASES = (FIRST, UNCHANGED, CHANGED)

# Method key -> label. The keys are what `--json` and the smoke test name.
METHODS: dict[str, str] = {
    "project": "this project: import csv --mapping (COPY + ON CONFLICT; default mapping pool)",
    "inline": "this project, mapping inline (MAPPING_WORKERS=0)",
    "floor": "floor: COPY + one INSERT … ON CONFLICT",
    "dlt": "dlt merge (csv.DictReader source)",
    "orm": "row-by-row ORM (SQLModel), on a sample",
}


@dataclass(slots=True)
class Measurement:
    """One timed phase of one method."""

    method: str
    phase: str
    rows: int
    seconds: float
    cpu_seconds: float  # CPU time of the importing process (the database server's is not in it)
    peak_rss_mib: float  # peak RSS of the importing process when the phase ended
    written: int  # store rows inserted or updated by the phase (bookkeeping tables aside)
    store_rows: int  # customers in the store after the phase
    counts: dict[str, int] = field(default_factory=dict)
    # sha256 of the store's customer e-mails, sorted: which people the phase left in the store.
    store_digest: str = ""
    ratio_to_dlt: float | None = None
    # The largest peak RSS among the processes it started and waited for (its mapping pool).
    child_peak_rss_mib: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Job:
    """What one method is given: its own database, the two files, and the batch size."""

    method: str
    url: str  # SQLAlchemy URL of the method's own database
    first: str  # the file of the first and the unchanged import
    changed: str  # the same file with 1 % of rows changed
    rows: int
    batch_size: int
    workdir: str
    phases: tuple[str, ...] = PHASES


def store_digest(emails: Iterable[str | None]) -> str:
    """A fingerprint of a set of customers by e-mail, to tell that two stores hold the same people."""
    return hashlib.sha256("\n".join(sorted(e or "" for e in emails)).encode()).hexdigest()


def _digest_sql(emails: str) -> str:
    """`store_digest` of the e-mails `emails` selects, computed by the server.

    Until 2026-12-01 the e-mails were fetched and sorted here, in the measured process: at
    1,000,000 rows that read (~140 MiB) was most of the "peak RSS" reported for the import, and
    it raised the peak of every later phase too. `COLLATE "C"` orders UTF-8 by bytes, which is
    Python's code-point order, so the digest is the one `store_digest` gives (the smoke test
    compares them).
    """
    return (
        "SELECT encode(sha256(convert_to(coalesce(string_agg(coalesce(email, ''), E'\\n' "
        "ORDER BY coalesce(email, '') COLLATE \"C\"), ''), 'UTF8')), 'hex') "
        f"FROM ({emails}) AS people"
    )


# Per method: where its customers' e-mails are.
_EMAILS = {
    "project": "SELECT email FROM customer",
    "inline": "SELECT email FROM customer",
    "orm": "SELECT email FROM customer",
    "floor": "SELECT email FROM floor_customer",
    "dlt": "SELECT email FROM dlt_bench.customers",
}


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS of this process so far, in MiB (ru_maxrss is KiB on Linux); with
    RUSAGE_CHILDREN, the largest of the children it has waited for."""
    return resource.getrusage(who).ru_maxrss / 1024


def _scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def _clock(engine: sa.Engine) -> Any:
    # The server's clock, so rows stamped by the server (now()) compare exactly.
    return _scalar(engine, "SELECT clock_timestamp()")


# --- this project -----------------------------------------------------------------------------


def _project(job: Job, path: str, mapping_workers: int | None = None) -> dict[str, int]:
    # None: as a user runs it, the mapping pool sized by the machine (sync.pipeline.mapper).
    settings = Settings(database_url=job.url, batch_size=job.batch_size, mapping_workers=mapping_workers)
    summary = import_csv(settings, Path(path), mapping=MAPPING, source_name=SOURCE)
    if summary.status != "succeeded":
        raise RuntimeError(f"the pipeline run ended {summary.status}: {summary.error}")
    return {k: int(summary.counts.get(k, 0)) for k in (*SUMMARY_KEYS, "conflicts")}


def _project_inline(job: Job, path: str) -> dict[str, int]:
    # The same run with every batch mapped in the importing process, between its reads and
    # beside the writer thread.
    return _project(job, path, mapping_workers=0)


def _customer_store(engine: sa.Engine, since: Any) -> tuple[int, int]:
    written = _scalar(
        engine,
        "SELECT (SELECT count(*) FROM customer WHERE updated_at >= :t)"
        " + (SELECT count(*) FROM customer_source WHERE updated_at >= :t)",
        t=since,
    )
    return int(written), int(_scalar(engine, "SELECT count(*) FROM customer"))


# --- the floor: what PostgreSQL itself can do with this file ------------------------------------

FLOOR_DDL = """
CREATE TABLE IF NOT EXISTS floor_customer (
    pk bigserial PRIMARY KEY,
    source_id text NOT NULL UNIQUE,
    firstname text, lastname text, email text, phone_number text, birthday date,
    street text, city text, zip_code text, country text, gender text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS ix_floor_customer_email ON floor_customer (email);
CREATE INDEX IF NOT EXISTS ix_floor_customer_phone ON floor_customer (phone_number);
"""
_FLOOR_COLS = [
    "firstname", "lastname", "email", "phone_number", "birthday", "street", "city", "zip_code", "country",
    "gender",
]  # fmt: skip
FLOOR_UPSERT = f"""
INSERT INTO floor_customer (source_id, {", ".join(_FLOOR_COLS)})
SELECT id, first_name, last_name, lower(email), phone, birthday::date, street, city, zip, country, upper(gender)
FROM floor_stage
ON CONFLICT (source_id) DO UPDATE SET
    ({", ".join(_FLOOR_COLS)}, updated_at) = ({", ".join("EXCLUDED." + c for c in _FLOOR_COLS)}, now())
WHERE ({", ".join("floor_customer." + c for c in _FLOOR_COLS)})
    IS DISTINCT FROM ({", ".join("EXCLUDED." + c for c in _FLOOR_COLS)})
"""


def _floor(job: Job, path: str) -> dict[str, int]:
    """COPY the file into a staging table and upsert it in one statement: no validation at all."""
    engine = get_engine(job.url)
    with engine.begin() as conn:
        raw: Any = conn.connection.dbapi_connection
        cur = raw.cursor()
        cur.execute(FLOOR_DDL)
        cols = ", ".join(f"{c} text" for c in CUSTOMER_HEADER)
        cur.execute(f"CREATE TEMPORARY TABLE floor_stage ({cols}) ON COMMIT DROP")
        with open(path, encoding="utf-8", newline="") as fh:
            cur.copy_expert("COPY floor_stage FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
        cur.execute(FLOOR_UPSERT)
        return {"read": job.rows, "written": cur.rowcount}


def _floor_store(engine: sa.Engine, since: Any) -> tuple[int, int]:
    written = _scalar(engine, "SELECT count(*) FROM floor_customer WHERE updated_at >= :t", t=since)
    return int(written), int(_scalar(engine, "SELECT count(*) FROM floor_customer"))


# --- dlt ---------------------------------------------------------------------------------------


def _dlt_credentials(url: str) -> str:
    # dlt wants a password even where the server trusts local connections.
    parsed = sa.make_url(url)
    return parsed.set(drivername="postgresql", password=parsed.password or "unused").render_as_string(
        hide_password=False
    )


def _dlt(job: Job, path: str) -> dict[str, int]:
    """dlt's merge on the same file, the way its docs load a CSV: a csv.DictReader resource."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    @dlt.resource(name="customers", write_disposition="merge", primary_key="id")
    def customers() -> Iterator[dict[str, str]]:
        with open(path, encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)

    pipeline = dlt.pipeline(
        pipeline_name="bench_customers",
        pipelines_dir=str(Path(job.workdir) / "dlt"),
        destination=dlt.destinations.postgres(credentials=_dlt_credentials(job.url)),
        dataset_name="dlt_bench",
    )
    info = pipeline.run(customers())
    _DLT_LOADS.extend(info.loads_ids)
    return {"read": job.rows, "loads": len(info.loads_ids)}


_DLT_LOADS: list[str] = []


def _dlt_store(engine: sa.Engine, since: Any) -> tuple[int, int]:
    # dlt's merge deletes the matched rows and inserts the new load: every row carries the last load id.
    written = _scalar(
        engine,
        "SELECT count(*) FROM dlt_bench.customers WHERE _dlt_load_id = :load",
        load=_DLT_LOADS[-1] if _DLT_LOADS else "",
    )
    return int(written), int(_scalar(engine, "SELECT count(*) FROM dlt_bench.customers"))


# --- the row-by-row ORM ------------------------------------------------------------------------


def _drafts(path: Path, counts: Counter[str]) -> Iterator[Draft]:
    layout = load_mapping(MAPPING)
    stream = CsvStream(path, SOURCE, layout.entity_source, "customers")
    for item in stream.records(StreamContext()):
        counts["read"] += 1
        mapped = None if isinstance(item, ReadError) else map_record(item, layout.spec)
        if isinstance(mapped, Draft):
            yield mapped
        else:
            counts["rejected"] += 1


def _customer_fields(draft: Draft) -> dict[str, Any]:
    values = {name: draft.fields.get(name) for name in GOLDEN_FIELDS}
    values["firstname"] = values["firstname"] or ""
    values["lastname"] = values["lastname"] or ""
    if isinstance(values["birthday"], str):
        values["birthday"] = date.fromisoformat(values["birthday"])
    return values


def _orm(job: Job, path: str) -> dict[str, int]:
    """The way it is usually first written: one SELECT per row, objects added one by one."""
    counts: Counter[str] = Counter()
    engine = get_engine(job.url)
    with Session(engine) as session:
        for n, draft in enumerate(_drafts(Path(path), counts), 1):
            digest = draft.content_hash()
            source = session.exec(
                select(CustomerSource).where(
                    CustomerSource.source == SOURCE, CustomerSource.source_id == draft.source_id
                )
            ).first()
            fields = _customer_fields(draft)
            if source is None:
                customer = Customer(
                    loyalty_id=new_loyalty_id(),
                    entity_source="CSV",
                    entity_source_id=draft.source_id,
                    extra_info=draft.extra_info,
                    **fields,
                )
                session.add(customer)
                session.flush()  # to learn the new customer's pk
                session.add(
                    CustomerSource(
                        source=SOURCE,
                        source_id=draft.source_id,
                        entity_source="CSV",
                        customer_pk=customer.pk,  # type: ignore[arg-type]
                        content_hash=digest,
                        payload=draft.payload(),
                    )
                )
                counts["created"] += 1
            elif source.content_hash != digest:
                customer = session.get(Customer, source.customer_pk)
                assert customer is not None
                for name, value in fields.items():
                    setattr(customer, name, value)
                customer.updated_at = utcnow()
                source.content_hash, source.payload, source.updated_at = digest, draft.payload(), utcnow()
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
            if n % job.batch_size == 0:
                session.commit()
        session.commit()
    return dict(counts)


_WORK: dict[str, tuple[Callable[[Job, str], dict[str, int]], Callable[[sa.Engine, Any], tuple[int, int]]]] = {
    "project": (_project, _customer_store),
    "inline": (_project_inline, _customer_store),
    "floor": (_floor, _floor_store),
    "dlt": (_dlt, _dlt_store),
    "orm": (_orm, _customer_store),
}


def run_job(job: Job) -> list[Measurement]:
    """Measure one method's phases in order on its own store: first, unchanged, 1 % changed."""
    work, observe = _WORK[job.method]
    engine = get_engine(job.url)
    results = []
    for phase in job.phases:
        path = job.changed if phase == CHANGED else job.first
        since = _clock(engine)
        started, cpu_started = time.perf_counter(), time.process_time()
        counts = work(job, path)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # The peak now, before the checks below read the store back.
        rss, children = peak_rss_mib(), peak_rss_mib(resource.RUSAGE_CHILDREN)
        written, store_rows = observe(engine, since)  # outside the timing
        with engine.connect() as conn:
            people = conn.execute(sa.text(_digest_sql(_EMAILS[job.method]))).scalar_one()
        results.append(
            Measurement(
                job.method, phase, job.rows, seconds, cpu, rss, written, store_rows, counts, people,
                child_peak_rss_mib=children,
            )
        )  # fmt: skip
    engine.dispose()
    return results


def _run_isolated(job: Job) -> list[dict[str, Any]]:
    # A fresh interpreter per method, so ru_maxrss is this method's own peak.
    configure_logging("WARNING")
    return [asdict(m) for m in run_job(job)]


def run_isolated(job: Job, isolate: bool = True) -> list[Measurement]:
    """`run_job` in a fresh spawned process (or in this one, for profiling and the smoke test)."""
    if not isolate:
        return run_job(job)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [Measurement(**m) for m in pool.submit(_run_isolated, job).result()]
