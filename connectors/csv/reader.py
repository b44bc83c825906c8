"""Streaming CSV reading: encoding and delimiter sniffed, quoted newlines kept, constant memory."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from connectors.base import FatalSourceError

_SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"


def _cp1252_fallback(err: UnicodeError) -> tuple[str, int]:
    # A stray Windows-1252 byte in an otherwise UTF-8 file (Excel does this) is read as
    # cp1252 rather than failing the whole import.
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return bad.decode("cp1252", errors="replace"), err.end


codecs.register_error("cp1252_fallback", _cp1252_fallback)
csv.field_size_limit(10 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """What sniffing found: the encoding, the delimiter and the header row."""

    encoding: str
    delimiter: str
    header: list[str]


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 by BOM, else cp1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise FatalSourceError("not a text CSV file (it contains NUL bytes)")
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still UTF-8.
        if exc.start < len(sample) - 3:
            return "cp1252"
    return "utf-8"


def _sniff_delimiter(text: str) -> str:
    lines = text.splitlines()
    header = lines[0] if lines else ""
    try:
        return csv.Sniffer().sniff(text[:16384], delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    # The header decides: the candidate it contains most often.
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvFile:
    """A CSV file opened for streaming, one record at a time, with the line it starts on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as fh:
                sample = fh.read(_SAMPLE_BYTES)
        except FileNotFoundError:
            raise FatalSourceError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise FatalSourceError(f"is a directory, not a file: {path}") from None
        except OSError as exc:
            raise FatalSourceError(f"cannot read {path}: {exc.strerror}") from None
        if not sample.strip():
            raise FatalSourceError(f"{path} is empty: no header row")
        encoding = detect_encoding(sample)
        text = sample.decode(encoding, errors="cp1252_fallback" if encoding == "utf-8" else "replace")
        if "\x00" in text or sum(ch < " " and ch not in "\r\n\t" for ch in text[:4096]) > 8:
            raise FatalSourceError(f"{path} is not a text CSV file")
        delimiter = _sniff_delimiter(text)
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
        header = [h.strip().lstrip("\ufeff") for h in header]
        if not any(header):
            raise FatalSourceError(f"{path} has no header row")
        self.layout = CsvLayout(encoding, delimiter, header)
        self.size = path.stat().st_size
        self._raw: BinaryIO | None = None

    def sha256(self) -> str:
        """The file's content hash, so a resumed run can tell the file is still the same."""
        digest = hashlib.sha256()
        with self.path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def bytes_read(self) -> int:
        """How far into the file reading has got, for progress bars."""
        return self._raw.tell() if self._raw and not self._raw.closed else 0

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number where the record starts, its cells), header excluded."""
        errors = "cp1252_fallback" if self.layout.encoding == "utf-8" else "replace"
        with self.path.open("rb") as raw:
            self._raw = raw
            text = io.TextIOWrapper(raw, encoding=self.layout.encoding, errors=errors, newline="")
            reader = csv.reader(text, delimiter=self.layout.delimiter, strict=False)
            next(reader, None)
            line = reader.line_num + 1
            for cells in reader:
                yield line, cells
                line = reader.line_num + 1
