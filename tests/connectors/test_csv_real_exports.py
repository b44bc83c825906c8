"""Reading real exports: mixed and Mac encodings, bare CR, duplicate and huge headers, pipes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.base import FatalSourceError, ReadError, SourceRecord, StreamContext
from connectors.csv import CsvFile, CsvStream
from sync.cli import app
from tests.sync.helpers import run_csv
from tests.sync.helpers import table_rows as _table_rows

EXE = Path(sys.executable).with_name("customer-sync")


def table_rows(url: str, table: str) -> list[dict[str, Any]]:
    # SQLite hands JSON columns back as text; compare them as values on both stores.
    rows = _table_rows(url, table)
    for row in rows:
        for key in ("extra_info", "payload"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
    return rows


def read_all(path: Path) -> list[SourceRecord | ReadError]:
    return list(CsvStream(path, "csv", "CSV", "customers").records(StreamContext()))


def records(path: Path) -> list[dict[str, str]]:
    return [r.fields for r in read_all(path) if isinstance(r, SourceRecord)]


def issues(url: str, run_id: str, severity: str) -> list[tuple[str, int | None]]:
    return sorted(
        (r["reason"], r["line"])
        for r in table_rows(url, "sync_reject")
        if r["run_id"] == run_id and r["severity"] == severity
    )


def names(url: str) -> dict[str, tuple[str, str]]:
    return {r["email"]: (r["firstname"], r["lastname"]) for r in table_rows(url, "customer")}


# --- 1. encodings: per line when mixed; Mac Roman told from cp1252; replaced bytes warn ---


def test_a_utf8_file_with_one_cp1252_row_is_decoded_per_line(db_url: str, shared_fixtures: Path) -> None:
    summary = run_csv(db_url, shared_fixtures / "hunt" / "mixed_utf8_with_stray_cp1252_row.csv")
    assert summary.counts["created"] == 3
    assert names(db_url) == {
        "mu1@example.com": ("Jürgen", "Müller"),
        "mu2@example.com": ("Renée", "Dupré"),
        "mu3@example.com": ("Zoë", "Ørsted"),
    }
    assert issues(db_url, summary.run_id, "warning") == [("encoding", 3)]


def test_a_stray_cp1252_row_far_past_the_sample_is_decoded_and_warned(db_url: str, tmp_path: Path) -> None:
    body = "email,firstname\n" + "".join(f"p{i}@example.com,Zoë{i}\n" for i in range(4000))
    data = body.encode() + "late@example.com,Renée\n".encode("cp1252")
    path = tmp_path / "late.csv"
    path.write_bytes(data)
    summary = run_csv(db_url, path)
    assert summary.counts["created"] == 4001
    assert names(db_url)["late@example.com"][0] == "Renée"
    assert names(db_url)["p7@example.com"][0] == "Zoë7"
    assert issues(db_url, summary.run_id, "warning") == [("encoding", 4002)]


MAC_ROWS = (
    "email,firstname,lastname,city\n"
    "rene.f@example.com,René,Fèvre,Besançon\n"
    "ines.m@example.com,Inês,Müller,São Paulo\n"
    "jorg.o@example.com,Jörg,Ørsted,Zürich\n"
    "eva.s@example.com,Éva,Straße,Ñuñoa\n"
)


@pytest.mark.parametrize("encoding", ["mac_roman", "cp1252"])
def test_old_excel_for_mac_files_are_read_as_mac_roman_and_windows_files_as_cp1252(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(MAC_ROWS.encode(encoding))
    assert CsvFile(path).layout.encoding == encoding
    assert [(r["firstname"], r["lastname"], r["city"]) for r in records(path)] == [
        ("René", "Fèvre", "Besançon"),
        ("Inês", "Müller", "São Paulo"),
        ("Jörg", "Ørsted", "Zürich"),
        ("Éva", "Straße", "Ñuñoa"),
    ]


# Windows files whose only non-ASCII bytes are 0x80-0x9F: Latin Extended-A capitals and
# typography, which Mac Roman reads as accented lower-case letters ("äimek", "ìAnnieî",
# "Flat 2 ñ Rear"); these were taken for Mac Roman without a word.
TYPOGRAPHIC_ROWS = [
    ("Jan", "Šimek", "Flat 2 \u2013 Rear"),
    ("Slavoj", "Žižek", "1 Main Street"),
    ("Anna “Annie”", "Nowak", "Rock \u2019n\u2019 Roll Lane"),
    ("Marie", "Dupont", "Rue Haute — Batiment B…"),
]
# Mac Roman has no Š or Ž: its files of typography alone are the last two rows.
TYPOGRAPHIC_FILES = [
    *(("cp1252", row) for row in TYPOGRAPHIC_ROWS),
    *(("mac_roman", row) for row in TYPOGRAPHIC_ROWS[2:]),
]


@pytest.mark.parametrize(("encoding", "row"), TYPOGRAPHIC_FILES)
def test_a_file_of_typography_and_extended_capitals_is_read_in_its_own_encoding(
    tmp_path: Path, encoding: str, row: tuple[str, str, str]
) -> None:
    path = tmp_path / "people.csv"
    text = "email,firstname,lastname,street\np@example.com,{},{},{}\n".format(*row)
    path.write_bytes(text.encode(encoding))
    assert CsvFile(path).layout.encoding == encoding
    assert [(r["firstname"], r["lastname"], r["street"]) for r in records(path)] == [row]


# Found by review (F1-F3): apostrophes in words, German quotes, UTF-8 typography beside one
# cp1252 row, and a Mac Roman `l\u2019Église` that happens to be valid UTF-8, all read wrong silently.
APOSTROPHE_FILES = [
    ("cp1252", ["12 St John\u2019s Road", "1 King\u2019s Parade", "\u201eZum Adler\u201c Hauptstr. 5"]),
    ("cp1252", ["Smith\u2019s Bakery", "don\u2019t call", "Macy\u2019s"]),
    ("mac_roman", ["O\u2019Brien", "D\u2019Arcy"]),
    ("mac_roman", ["Rue de l\u2019\u00c9glise"]),
]


@pytest.mark.parametrize(("encoding", "streets"), APOSTROPHE_FILES)
def test_apostrophes_and_quotes_alone_tell_the_encoding(
    tmp_path: Path, encoding: str, streets: list[str]
) -> None:
    path = tmp_path / "people.csv"
    rows = "".join(f"p{i}@example.com,Ann,{street}\r\n" for i, street in enumerate(streets))
    path.write_bytes(f"email,firstname,street\r\n{rows}".encode(encoding))
    assert CsvFile(path).layout.encoding == encoding
    assert [r["street"] for r in records(path)] == streets


def test_utf8_typography_beside_one_cp1252_row_is_utf8_and_the_row_warns(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    utf8 = "email,firstname,lastname\na@example.com,Pat,O\u2019Brien\nb@example.com,Ann,Flat 2 \u2013 Rear\n"
    path.write_bytes(utf8.encode() + "c@example.com,Renée,Dupré\n".encode("cp1252"))
    assert CsvFile(path).layout.encoding == "utf-8"
    summary = run_csv(db_url, path)
    assert names(db_url) == {
        "a@example.com": ("Pat", "O\u2019Brien"),
        "b@example.com": ("Ann", "Flat 2 \u2013 Rear"),
        "c@example.com": ("Renée", "Dupré"),
    }
    assert issues(db_url, summary.run_id, "warning") == [("encoding", 4)]


@pytest.mark.parametrize("encoding", ["cp1252", "mac_roman"])
def test_a_file_of_symbols_alone_says_its_encoding_is_a_close_call(
    db_url: str, tmp_path: Path, encoding: str
) -> None:
    """`Ltd®` reads as `LtdÆ` in Mac Roman and `Ltd¨` back: no scoring tells them apart."""
    path = tmp_path / "symbols.csv"
    path.write_bytes("email,firstname,lastname\na@example.com,Tom,Ltd®\n".encode(encoding))
    summary = run_csv(db_url, path)
    assert issues(db_url, summary.run_id, "warning") == [("encoding", 2)]


# Review (second round): read wrong without a word (`JŸrgen`, `Acmeª`, `5¡`), or warned for
# nothing on one ordinary word (`Straße`, `Hôtel`, `Gärtner`, `Zoë`).
ONE_WORD_FILES = [
    ("mac_roman", ["Jürgen Müller", "München", "Acme™", "Acme™"]),
    ("mac_roman", ["Rue 5°"]),
    ("cp1252", ["Straße"]),
    ("cp1252", ["Hôtel de Ville"]),
    ("mac_roman", ["Gärtner"]),
    ("mac_roman", ["Zoë"]),
]


@pytest.mark.parametrize(("encoding", "values"), ONE_WORD_FILES)
def test_short_files_are_read_in_their_encoding_without_a_warning(
    db_url: str, tmp_path: Path, encoding: str, values: list[str]
) -> None:
    path = tmp_path / "short.csv"
    rows = "".join(f"p{i}@example.com,Ann,{v}\n" for i, v in enumerate(values))
    path.write_bytes(f"email,firstname,lastname\n{rows}".encode(encoding))
    assert CsvFile(path).layout.encoding == encoding
    summary = run_csv(db_url, path)
    assert [names(db_url)[f"p{i}@example.com"][1] for i in range(len(values))] == values
    assert issues(db_url, summary.run_id, "warning") == []


def test_the_summary_says_which_encoding_the_file_was_read_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the guess was recorded only in `runs show --json`'s params."""
    path = tmp_path / "mac.csv"
    path.write_bytes(MAC_ROWS.encode("mac_roman"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    as_json = CliRunner().invoke(app, ["import", "csv", str(path), "--json"])
    assert json.loads(as_json.stdout)["encoding"] == "mac_roman"
    shown = CliRunner().invoke(app, ["import", "csv", str(path)], env={"COLUMNS": "80"})
    assert re.search(r"read as\s+│\s+mac_roman", shown.stdout), shown.stdout


def test_a_mac_roman_file_imports_without_encoding_warnings(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(MAC_ROWS.encode("mac_roman"))
    summary = run_csv(db_url, path)
    assert names(db_url)["ines.m@example.com"] == ("Inês", "Müller")
    assert {r["city"] for r in table_rows(db_url, "customer")} >= {"São Paulo", "Besançon"}
    assert issues(db_url, summary.run_id, "warning") == []


NATIVE_HEADER = "entitySourceId,email,firstname,lastname,updatedAt\n"


def native_rows(*names: tuple[str, str]) -> str:
    return NATIVE_HEADER + "".join(
        f"c-{i},p{i}@example.com,{first},{last},2026-01-05T10:00:00Z\n"
        for i, (first, last) in enumerate(names)
    )


# U+009B is the bytes C2 9B in UTF-8. With few accents beside it, these files were taken for
# cp1252 ("Ã‰lodie") and Mac Roman ("≈Åukasz", "Nowak¬õ"), without a warning.
C1_FILES = {
    "read-as-cp1252": [("Élodie", "Martin"), ("Åsa", "Lind"), ("Ben", "\u009bCole")],
    "read-as-mac-roman": [("Łukasz", "Nowak\u009b"), ("Čech", "Kowalski")],
}


@pytest.mark.parametrize("people", C1_FILES.values(), ids=C1_FILES.keys())
def test_a_utf8_file_with_a_c1_control_is_read_as_utf8_and_keeps_the_control(
    db_url: str, tmp_path: Path, people: list[tuple[str, str]]
) -> None:
    path = tmp_path / "c1.csv"
    path.write_bytes(native_rows(*people).encode("utf-8"))
    assert CsvFile(path).layout.encoding == "utf-8"
    summary = run_csv(db_url, path, preset_name="native")
    assert summary.counts["created"] == len(people)
    # The store keeps what the file says, as it does for other control characters (the CLI
    # shows them escaped).
    assert sorted(names(db_url).values()) == sorted(people)
    assert issues(db_url, summary.run_id, "warning") == []


def test_a_utf8_line_with_a_c1_control_in_a_cp1252_file_is_read_as_utf8_and_warned(
    db_url: str, tmp_path: Path
) -> None:
    data = native_rows(("Renée", "Dupré")).encode("cp1252") + "c-9,p9@example.com,Ben,\u009bCole,\n".encode()
    path = tmp_path / "mixed-c1.csv"
    path.write_bytes(data)
    assert CsvFile(path).layout.encoding == "cp1252"
    summary = run_csv(db_url, path, preset_name="native")
    assert names(db_url) == {"p0@example.com": ("Renée", "Dupré"), "p9@example.com": ("Ben", "\u009bCole")}
    assert issues(db_url, summary.run_id, "warning") == [("encoding", 3)]


def test_a_byte_no_encoding_can_decode_warns_encoding_with_its_line(db_url: str, tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252: it is replaced, and the row says so.
    data = "email,firstname\na@example.com,Renée\n".encode("cp1252") + b"b@example.com,Bo\x81b\n"
    path = tmp_path / "undefined.csv"
    path.write_bytes(data)
    summary = run_csv(db_url, path)
    assert summary.counts["created"] == 2
    assert names(db_url)["a@example.com"][0] == "Renée"
    assert issues(db_url, summary.run_id, "warning") == [("encoding", 3)]


# --- 2. bare CR line ends ---


def test_bare_cr_line_ends_import(db_url: str, shared_fixtures: Path) -> None:
    summary = run_csv(db_url, shared_fixtures / "hunt" / "utf8_cr_only.csv")
    assert summary.counts["created"] == 2
    by_email = {r["email"]: r for r in table_rows(db_url, "customer")}
    assert (by_email["rene.f@example.com"]["firstname"], by_email["rene.f@example.com"]["city"]) == (
        "René",
        "Besançon",
    )
    assert by_email["ines.m@example.com"]["city"] == "São Paulo"


def test_bare_cr_file_with_a_quoted_line_break_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "cr.csv"
    path.write_bytes(b'email,street\rA@example.com,"1 Main St\rFlat 2"\rb@example.com,2 Side St\r')
    got = [(r.position, r.fields["street"]) for r in read_all(path) if isinstance(r, SourceRecord)]
    assert got == [(2, "1 Main St\rFlat 2"), (4, "2 Side St")]


# --- 3. duplicate header names ---


def test_duplicate_headers_first_non_empty_wins_and_the_other_is_kept(
    db_url: str, shared_fixtures: Path
) -> None:
    summary = run_csv(db_url, shared_fixtures / "hunt" / "duplicate_header_names.csv")
    assert summary.counts["created"] == 2
    by_email = {r["email"]: r for r in table_rows(db_url, "customer")}
    dh1, dh2 = by_email["dh1@example.com"], by_email["dh2@example.com"]
    assert dh1["phone_number"] == "+4930123456"
    assert dh1["extra_info"] == {"phoneNumber_2": "+491711234567"}
    assert dh2["phone_number"] == "+491711234568"
    assert dh2["extra_info"] == {}
    assert issues(db_url, summary.run_id, "warning") == [("duplicate_header", 1)]


# --- 4. oversized cells and very wide headers ---


def test_a_cell_over_the_field_limit_rejects_its_row_only(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.write(b"email,firstname\na@example.com,Ann\nb@example.com,")
        fh.write(b"x" * (11 * 1024 * 1024))
        fh.write(b"\nc@example.com,Cy\n")
    summary = run_csv(db_url, path)
    assert (summary.counts["created"], summary.counts["rejected"]) == (2, 1)
    assert issues(db_url, summary.run_id, "reject") == [("oversized_cell", 3)]
    assert set(names(db_url)) == {"a@example.com", "c@example.com"}


def test_a_header_wider_than_the_sniffing_window_is_read_whole(db_url: str, tmp_path: Path) -> None:
    extra = [f"custom_attribute_{i:05d}" for i in range(9999)]
    header = ["email", "firstname", *extra]
    assert len(",".join(header)) > 64 * 1024
    row = ["w@example.com", "Wanda", *["v"] * 9998, "last"]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    assert CsvFile(path).layout.header == header
    summary = run_csv(db_url, path)
    assert summary.counts["created"] == 1
    (customer,) = table_rows(db_url, "customer")
    assert customer["firstname"] == "Wanda"
    assert customer["extra_info"]["custom_attribute_09998"] == "last"


# --- 5. standard input and other non-regular paths ---


def _cli(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY", "REDIS"))}
    return subprocess.run(
        [str(EXE), *args], cwd=cwd, env=env, input=stdin, capture_output=True, timeout=30, check=False
    )


def test_import_reads_standard_input_once_when_given_dash(tmp_path: Path) -> None:
    data = b"email,firstname\ns1@example.com,Sam\ns2@example.com,Sue\n"
    result = _cli(["import", "csv", "-", "--json"], tmp_path, stdin=data)
    assert result.returncode == 0, result.stderr
    assert b'"created": 2' in result.stdout


def test_a_fifo_or_device_path_is_refused_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = _cli(["import", "csv", str(fifo)], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "not a regular file" in lines[0], lines
    with pytest.raises(FatalSourceError, match="not a regular file"):
        CsvFile(Path("/dev/null"))


def test_past_an_ascii_sample_the_first_non_utf8_line_decides_for_the_later_ones(tmp_path: Path) -> None:
    """Review: each such line was read alone, so `Acme Ltd®` and `2½` after `François` went to
    Mac Roman (`LtdÆ`, `2Ω`) in a cp1252 file, warned only at the line read right."""
    body = "email,firstname,lastname\n" + "".join(f"p{i}@example.com,Ann,Lee{i}\n" for i in range(3000))
    late = "f@example.com,François,Lefèvre\na@example.com,Acme,Ltd®\nh@example.com,Half,2½ Main St\n"
    path = tmp_path / "late.csv"
    path.write_bytes((body + late).encode("cp1252"))
    got = {r["email"]: (r["firstname"], r["lastname"]) for r in records(path)}
    assert [got[e] for e in ("f@example.com", "a@example.com", "h@example.com")] == [
        ("François", "Lefèvre"),
        ("Acme", "Ltd®"),
        ("Half", "2½ Main St"),
    ]


def test_a_cp1252_file_whose_accents_start_past_the_sample_warns_once(db_url: str, tmp_path: Path) -> None:
    """Past an ASCII sample each line that is not UTF-8 is read alone, as cp1252 or Mac Roman:
    the first says so once (review F4: such lines were misread without a word)."""
    body = "email,firstname\n" + "".join(f"p{i}@example.com,Ann{i}\n" for i in range(4000))
    path = tmp_path / "late-accents.csv"
    path.write_bytes((body + "late@example.com,Renée\nlater@example.com,Jürgen\n").encode("cp1252"))
    summary = run_csv(db_url, path)
    assert summary.counts["created"] == 4002
    assert names(db_url)["late@example.com"][0] == "Renée"
    assert names(db_url)["later@example.com"][0] == "Jürgen"
    assert issues(db_url, summary.run_id, "warning") == [("encoding", 4002)]


def test_a_mac_roman_line_that_happens_to_be_valid_utf8_is_read_as_mac_roman(tmp_path: Path) -> None:
    # Õß in Mac Roman is the bytes CD A7, which UTF-8 reads as one combining mark.
    path = tmp_path / "mac.csv"
    path.write_bytes("email,street\na@example.com,Õß\n".encode("mac_roman"))
    assert CsvFile(path).layout.encoding == "mac_roman"
    assert records(path) == [{"email": "a@example.com", "street": "Õß"}]
