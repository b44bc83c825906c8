"""CSV imports end to end on SQLite and PostgreSQL: counts, rejects, idempotence, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from tests.sync.helpers import assert_counts_add_up, run_csv, table_rows

NATIVE = "entitySourceId,email,firstname,lastname,phoneNumber,birthday,gender,country,city\n"


def native(tmp_path: Path, body: str, name: str = "native.csv") -> Path:
    path = tmp_path / name
    path.write_text(NATIVE + body, encoding="utf-8")
    return path


def rejects(url: str, run_id: str, severity: str = "reject") -> list[dict[str, object]]:
    return [r for r in table_rows(url, "sync_reject") if r["run_id"] == run_id and r["severity"] == severity]


def test_importing_the_same_file_twice_changes_nothing(db_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "shop.csv", SHOPIFY_HEADER, shopify_rows(1200, garbage=0.02, seed=3))
    first = run_csv(db_url, path, batch_size=500)
    assert_counts_add_up(first)
    assert first.counts["created"] > 1100
    customers, sources = table_rows(db_url, "customer"), table_rows(db_url, "customer_source")

    second = run_csv(db_url, path, batch_size=500)
    assert_counts_add_up(second)
    assert second.counts["unchanged"] == first.counts["created"]
    assert (second.counts["created"], second.counts["updated"]) == (0, 0)
    assert second.counts["rejected"] == first.counts["rejected"]
    assert table_rows(db_url, "customer") == customers
    assert table_rows(db_url, "customer_source") == sources


def test_ten_thousand_rows_with_one_percent_garbage(db_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", SHOPIFY_HEADER, shopify_rows(10_000, garbage=0.01, seed=5))
    summary = run_csv(db_url, path, batch_size=2000)
    assert_counts_add_up(summary)
    bad = rejects(db_url, summary.run_id)
    assert 60 < len(bad) < 150  # about 1 % of 10,000
    assert summary.counts["created"] == 10_000 - len(bad)
    assert {r["reason"] for r in bad} == {"invalid_email", "column_count"}
    # Each reject names the physical line it came from (header is line 1).
    lines = Path(path).read_text().splitlines()
    for r in bad:
        assert isinstance(r["line"], int)
        raw_line = lines[r["line"] - 1]
        assert r["reason"] != "invalid_email" or "not-an-email" in raw_line
    assert len(table_rows(db_url, "customer")) == summary.counts["created"]


def test_bad_fields_are_dropped_with_warnings_and_the_row_still_loads(db_url: str, tmp_path: Path) -> None:
    path = native(tmp_path, "1,a@example.com,Ann,Lee,12,31.02.1990,robot,Atlantis,Oslo\n")
    summary = run_csv(db_url, path, preset_name="native")
    assert summary.counts["created"] == 1
    warnings = rejects(db_url, summary.run_id, "warning")
    assert sorted((w["reason"], w["field"], w["line"]) for w in warnings) == [
        ("invalid_country", "country", 2),
        ("invalid_date", "birthday", 2),
        ("invalid_gender", "gender", 2),
        ("invalid_phone", "phoneNumber", 2),
    ]
    (customer,) = table_rows(db_url, "customer")
    assert (customer["city"], customer["phone_number"], customer["birthday"], customer["country"]) == (
        "Oslo",
        None,
        None,
        None,
    )


def test_invalid_email_rejects_the_row_with_its_line(db_url: str, tmp_path: Path) -> None:
    path = native(
        tmp_path, "1,good@example.com,A,B,,,,,\n2,bad@@example,C,D,,,,,\n3,ok@example.com,E,F,,,,,\n"
    )
    summary = run_csv(db_url, path, preset_name="native")
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 1)
    (bad,) = rejects(db_url, summary.run_id)
    assert (bad["line"], bad["reason"]) == (3, "invalid_email")


def test_duplicate_source_id_last_wins_and_the_rest_count_as_duplicates(db_url: str, tmp_path: Path) -> None:
    body = "7,x@example.com,First,One,,,,,\n8,y@example.com,Y,Y,,,,,\n7,x@example.com,Last,One,,,,,\n"
    # Batch size 2 puts the repeat in a later batch than the first occurrence.
    summary = run_csv(db_url, native(tmp_path, body * 2), preset_name="native", batch_size=2)
    assert_counts_add_up(summary)
    assert (summary.counts["created"], summary.counts["duplicates"]) == (2, 4)
    names = {r["entity_source_id"]: r["firstname"] for r in table_rows(db_url, "customer")}
    assert names == {"7": "Last", "8": "Y"}
    assert table_rows(db_url, "sync_seen", order_by="run_id") == []  # per-run key set cleared at the end


def test_formulas_are_stored_as_plain_text(db_url: str, tmp_path: Path) -> None:
    path = native(tmp_path, '1,f@example.com,"=HYPERLINK(""http://x"",""y"")",@SUM(A1),,,,,\n')
    run_csv(db_url, path, preset_name="native")
    (customer,) = table_rows(db_url, "customer")
    assert customer["firstname"] == '=HYPERLINK("http://x","y")'
    assert customer["lastname"] == "@SUM(A1)"


def test_header_only_file_is_a_finished_empty_run(db_url: str, tmp_path: Path) -> None:
    summary = run_csv(db_url, native(tmp_path, ""), preset_name="native")
    assert summary.status == "succeeded"
    assert summary.counts["read"] == 0


def test_unmapped_columns_go_to_extra_info(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("entitySourceId,email,Favourite Dish,shoe size\n1,e@example.com,Ramen,44\n")
    run_csv(db_url, path, preset_name="native")
    (customer,) = table_rows(db_url, "customer")
    extra = (
        customer["extra_info"]
        if isinstance(customer["extra_info"], dict)
        else json.loads(customer["extra_info"])
    )
    assert extra == {"Favourite Dish": "Ramen", "shoe size": "44"}


def test_a_repeated_id_column_gives_the_first_non_empty_id(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "entitySourceId,email,entitySourceId,firstname\n"
        ",ann@example.com,A-2,Ann\n"  # first copy blank: the second is the id, not the e-mail
        "B-1,bob@example.com,B-9,Bob\n"  # both filled: the first wins, the other kept
        ",cy@example.com,,Cy\n"  # neither: derived from the e-mail, as without an id column
    )
    summary = run_csv(db_url, path, preset_name="native")
    assert (summary.counts["created"], summary.counts["rejected"]) == (3, 0)
    sources = {r["source_id"]: r["payload"] for r in table_rows(db_url, "customer_source")}
    payloads = {k: v if isinstance(v, dict) else json.loads(v) for k, v in sources.items()}
    assert {k: p["extra_info"] for k, p in payloads.items()} == {
        "A-2": {},
        "B-1": {"entitySourceId_2": "B-9"},
        "email:cy@example.com": {},
    }
    assert summary.columns == {
        "entitySourceId": "entitySourceId",
        "email": "email",
        "entitySourceId_2": "entitySourceId",
        "firstname": "firstname",
    }
    warned = [(r["reason"], r["line"]) for r in rejects(db_url, summary.run_id, "warning")]
    assert warned == [("duplicate_header", 1)]


def test_dataloader_delete_tombstones_and_deactivates(db_url: str, tmp_path: Path) -> None:
    header = "Id,FirstName,LastName,Email,SystemModstamp,IsDeleted\n"
    live = tmp_path / "a.csv"
    live.write_text(header + "003A,Sam,Lee,sam@example.com,2024-01-01T00:00:00.000Z,false\n")
    gone = tmp_path / "b.csv"
    gone.write_text(header + "003A,Sam,Lee,sam@example.com,2024-02-01T00:00:00.000Z,true\n")
    run_csv(db_url, live)
    summary = run_csv(db_url, gone)
    assert summary.counts["deleted"] == 1
    (source,) = table_rows(db_url, "customer_source")
    (customer,) = table_rows(db_url, "customer")
    assert source["deleted"] is True or source["deleted"] == 1
    assert not customer["active"] and customer["deleted_at"] is not None
    assert customer["email"] == "sam@example.com"  # soft delete keeps the record readable
    # A replay of the older live row changes nothing: its stamp is older than the tombstone's.
    again = run_csv(db_url, live)
    assert again.counts["unchanged"] == 1
    assert not table_rows(db_url, "customer")[0]["active"]


def _open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    found = set()
    for fd in fds.iterdir():
        try:
            found.add(str(fd.readlink()))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_a_run_that_fails_while_loading_lets_go_of_its_file(db_url: str, tmp_path: Path) -> None:
    from connectors.csv import CsvStream
    from sync.mapping import preset
    from sync.pipeline import create_run, execute_run
    from tests.sync.helpers import settings_for

    path = write_csv(tmp_path / "c.csv", SHOPIFY_HEADER, shopify_rows(500, seed=9))
    engine = get_engine(db_url)
    stream = CsvStream(path, "shopify", "SHOPIFY", "customers")
    run_id = create_run(engine, stream, entity_kind="customers", mode="full", trigger="test")
    batches: list[int] = []

    class Broken(Exception):
        pass

    def third_batch_breaks(conn: sa.Connection, positions: list[int | None]) -> None:
        batches.append(len(positions))
        if len(batches) == 3:
            raise Broken  # as a database error would, with the file half read

    with pytest.raises(Broken) as failed:
        execute_run(
            engine, settings_for(db_url, batch_size=100), stream, preset("shopify").spec, run_id,
            in_batch=third_batch_breaks,
        )  # fmt: skip

    # The traceback (kept here, as a worker's error report keeps it) must not keep it open.
    assert failed.value is not None
    assert str(path.resolve()) not in _open_files()


def test_a_crash_mid_run_resumes_from_the_last_committed_batch(db_url: str, tmp_path: Path) -> None:
    from connectors.csv import CsvStream
    from sync.mapping import preset
    from sync.pipeline import create_run, execute_run
    from tests.sync.helpers import settings_for

    path = write_csv(tmp_path / "c.csv", SHOPIFY_HEADER, shopify_rows(1000, seed=9))
    settings = settings_for(db_url, batch_size=100)
    engine = get_engine(db_url)
    layout = preset("shopify")

    class Crash(Exception):
        pass

    class CrashingStream(CsvStream):
        def lazy_records(self, ctx):  # type: ignore[no-untyped-def]
            # What the pipeline reads (`records`, a record's text split only when asked).
            for i, record in enumerate(super().lazy_records(ctx)):
                if i == 450:
                    raise Crash
                yield record

    stream = CrashingStream(path, "shopify", "SHOPIFY", "customers")
    run_id = create_run(engine, stream, entity_kind="customers", mode="full", trigger="test")
    with pytest.raises(Crash):
        execute_run(engine, settings, stream, layout.spec, run_id)
    assert len(table_rows(db_url, "customer")) == 400  # four whole batches, nothing partial
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM sync_run WHERE id = :i"), {"i": run_id}).scalar()
    assert status == "failed"

    # Re-applying the same run resumes after the checkpoint: nothing lost, nothing doubled.
    summary = execute_run(
        engine, settings, CsvStream(path, "shopify", "SHOPIFY", "customers"), layout.spec, run_id
    )
    assert summary.status == "succeeded"
    assert_counts_add_up(summary)
    assert (summary.counts["read"], summary.counts["created"], summary.counts["unchanged"]) == (1000, 1000, 0)
    assert len(table_rows(db_url, "customer")) == 1000


def test_mapping_in_worker_processes_gives_the_same_store_as_inline(pg_only_url: str, tmp_path: Path) -> None:
    from sync.jobs import import_csv
    from tests.conftest import truncate_all
    from tests.sync.helpers import settings_for

    path = write_csv(tmp_path / "w.csv", SHOPIFY_HEADER, shopify_rows(1500, garbage=0.02, seed=13))
    inline = import_csv(settings_for(pg_only_url, batch_size=200, mapping_workers=0), path)
    customers = {
        r["email"]: {k: v for k, v in r.items() if k not in ("pk", "loyalty_id", "created_at", "updated_at")}
        for r in table_rows(pg_only_url, "customer")
    }
    rejected = sorted((r["line"], r["reason"]) for r in table_rows(pg_only_url, "sync_reject"))

    truncate_all(get_engine(pg_only_url))
    pooled = import_csv(settings_for(pg_only_url, batch_size=200, mapping_workers=2), path)
    assert_counts_add_up(pooled)
    assert {k: v for k, v in pooled.counts.items()} == {k: v for k, v in inline.counts.items()}
    assert {
        r["email"]: {k: v for k, v in r.items() if k not in ("pk", "loyalty_id", "created_at", "updated_at")}
        for r in table_rows(pg_only_url, "customer")
    } == customers
    assert sorted((r["line"], r["reason"]) for r in table_rows(pg_only_url, "sync_reject")) == rejected
