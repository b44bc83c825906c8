"""Streaming CSV reading: encoding and delimiter sniffed, quoted newlines kept, constant memory."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import stat
import sys
import tempfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from connectors.base import FatalSourceError
from connectors.csv.decode import SINGLE_BYTE, LineDecoder, close_call, detect_encoding, physical_lines

__all__ = [
    "STDIN",
    "CsvFile",
    "CsvLayout",
    "CsvRow",
    "NotPlainError",
    "PlainLines",
    "check_regular_file",
    "detect_encoding",
    "local_copy",
]

_SAMPLE_BYTES = 64 * 1024
_CHUNK_BYTES = 1 << 20
DELIMITERS = ",;\t|"
# A cell above this is refused with its row (the csv module holds a cell whole in memory).
FIELD_LIMIT = 10 * 1024 * 1024
# A physical line above this is skipped unread: wide rows are fine, a runaway line is not.
LINE_LIMIT = 4 * FIELD_LIMIT
STDIN = "-"

csv.field_size_limit(FIELD_LIMIT)


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """What sniffing found: the encoding, the delimiter and the header row.

    `duplicates` maps a repeated header's suffixed name (`phoneNumber_2`) to the name it repeats.
    """

    encoding: str
    delimiter: str
    header: list[str]
    duplicates: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CsvRow:
    """One record of the file: the line it starts on, its cells (None if unreadable), and notes."""

    line: int
    cells: list[str] | None
    # (reason, message): `encoding` for lines not decoded as the file's encoding; for an
    # unreadable row, why it could not be split into cells.
    notes: list[tuple[str, str]] = field(default_factory=list)
    # The record's text as read (its lines joined, the last line's end dropped): what the
    # row is, for a hash that tells an unchanged row before it is mapped.
    raw: str = ""


@dataclass(slots=True)
class PlainLines:
    """Lines of the plain part of a file, as read (`CsvFile.read_unsplit`): `lines[i]` is line `first + i`."""

    first: int
    lines: list[str]


def _outside_quotes(line: str) -> str:
    return "".join(part for i, part in enumerate(line.split('"')) if i % 2 == 0)


def _sniff_delimiter(text: str) -> str:
    lines = text.splitlines()
    header = _outside_quotes(lines[0]) if lines else ""
    # Header names rarely hold a delimiter: when exactly one candidate is in the header, it
    # is the one (values full of `;` or `|` cannot mislead the sniffer then).
    present = [d for d in DELIMITERS if d in header]
    if len(present) == 1:
        return present[0]
    try:
        return csv.Sniffer().sniff(text[:16384], delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    # The header decides: the candidate it contains most often.
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _fold(name: str) -> str:
    return " ".join(name.split()).lower()


def dedupe_header(header: list[str]) -> tuple[list[str], dict[str, str]]:
    """Rename repeated headers `name_2`, `name_3`, … (compared case- and space-blind)."""
    taken = {_fold(h) for h in header}
    seen: dict[str, int] = {}
    renamed: list[str] = []
    duplicates: dict[str, str] = {}
    for name in header:
        key = _fold(name)
        if not key or key not in seen:
            seen[key] = 1
            renamed.append(name)
            continue
        n = seen[key]
        while True:
            n += 1
            candidate = f"{name}_{n}"
            if _fold(candidate) not in taken:
                break
        seen[key] = n
        taken.add(_fold(candidate))
        renamed.append(candidate)
        duplicates[candidate] = name
    return renamed, duplicates


def check_regular_file(path: Path) -> None:
    """Refuse, in one line, what cannot be read twice from the top: pipes, sockets, devices."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FatalSourceError(f"no such file: {path}") from None
    except OSError as exc:
        raise FatalSourceError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise FatalSourceError(f"is a directory, not a file: {path}")
    if not stat.S_ISREG(mode):
        raise FatalSourceError(
            f"{path} is not a regular file (a pipe, socket or device); to import from a pipe, "
            f"pass - and send the file on standard input"
        )


@contextmanager
def local_copy(path: Path, stdin: BinaryIO | None = None) -> Iterator[Path]:
    """The path to read: `path` itself, or for `-` standard input spooled once to a temporary file.

    The file is read more than once (sniffing, layout, the import, its hash), which a pipe
    does not allow; the copy is streamed, so memory stays flat, and removed afterwards.
    """
    if str(path) != STDIN:
        check_regular_file(path)
        yield path
        return
    source = stdin if stdin is not None else sys.stdin.buffer
    with tempfile.NamedTemporaryFile(prefix="customer-sync-stdin-", suffix=".csv") as spool:
        shutil.copyfileobj(source, spool, _CHUNK_BYTES)
        spool.flush()
        yield Path(spool.name)


def _bounded_chunks(raw: BinaryIO, size: int) -> Iterator[bytes]:
    while size > 0 and (chunk := raw.read(min(_CHUNK_BYTES, size))):
        size -= len(chunk)
        yield chunk


class CsvFile:
    """A CSV file opened for streaming, one record at a time, with the line it starts on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        check_regular_file(path)
        try:
            with path.open("rb") as fh:
                sample = fh.read(_SAMPLE_BYTES)
                complete = not fh.read(1)
        except OSError as exc:
            raise FatalSourceError(f"cannot read {path}: {exc.strerror}") from None
        if not sample.strip():
            raise FatalSourceError(f"{path} is empty: no header row")
        encoding = detect_encoding(sample, complete)
        text = sample.decode(encoding, errors="replace")
        if "\x00" in text or sum(ch < " " and ch not in "\r\n\t" for ch in text[:4096]) > 8:
            raise FatalSourceError(f"{path} is not a text CSV file")
        delimiter = _sniff_delimiter(text)
        self.size = path.stat().st_size
        self._raw: BinaryIO | None = None
        self._sha256: str | None = None
        # The header is read from the file itself, not the sample: it may be wider than it.
        self._provisional = sample.isascii()
        self._doubt = encoding in SINGLE_BYTE and close_call(sample)
        # Old Mac files end lines with a bare \r: nothing in them can be cut at a \n.
        self.bare_cr = b"\r" in sample and b"\n" not in sample
        self.layout = CsvLayout(encoding, delimiter, [])
        records = self._records(header=True)
        first = next(records, None)
        records.close()
        header = [h.strip().lstrip("\ufeff").strip() for h in (first.cells or [])] if first else []
        if not any(header):
            raise FatalSourceError(f"{path} has no header row")
        header, duplicates = dedupe_header(header)
        self.layout = CsvLayout(encoding, delimiter, header, duplicates)

    def sha256(self) -> str:
        """The file's content hash, so a resumed run can tell the file is still the same.

        Read once for this object (the run's description and its survey key ask for it); a
        check whether the file changed since opens the file anew.
        """
        if self._sha256 is None:
            digest = hashlib.sha256()
            with self.path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            self._sha256 = digest.hexdigest()
        return self._sha256

    def bytes_read(self) -> int:
        """How far into the file reading has got, for progress bars."""
        return self._raw.tell() if self._raw and not self._raw.closed else 0

    def read(self) -> Iterator[CsvRow]:
        """Every record after the header, with the line it starts on and its notes.

        A plain file (see `plain_lines`) is read many lines at a time: the same rows, without
        a decoder and a csv reader per line.
        """
        delimiter = self.layout.delimiter or ","
        for part in self.read_unsplit():
            if type(part) is CsvRow:
                yield part
                continue
            number = part.first  # type: ignore[union-attr]  # a PlainLines
            for text in part.lines:  # type: ignore[union-attr]
                yield CsvRow(number, text.split(delimiter) if text else [], raw=text)
                number += 1

    def read_unsplit(self) -> Iterator[PlainLines | CsvRow]:
        """`read`, with the plain part of the file (see `plain_lines`) given as blocks of lines,
        unsplit: a line's cells are `text.split(delimiter)` (an empty line's none).

        A file is read as plain lines as far as it is plain, then record by record from the
        first part that is not (its rows numbered on from there).
        """
        if self.layout.encoding not in ("utf-8", "utf-8-sig") or self.bare_cr:
            yield from self._read_records()
            return
        number, offset = 2, 0  # the header is line 1, one line: it holds no quote
        with self.path.open("rb") as fh:
            self._raw = fh
            try:
                for lines, end in self._plain_blocks(fh):
                    yield PlainLines(number, lines)
                    number += len(lines)
                    offset = end
                return
            except NotPlainError:
                pass
        if offset == 0:
            yield from self._read_records()
        else:
            yield from self._records(header=False, span=(offset, 1 << 62, number))

    def _read_records(self) -> Iterator[CsvRow]:
        """`read`, record by record."""
        records = self._records(header=False)
        next(records, None)
        yield from records

    def read_range(self, start: int, end: int, first_line: int) -> Iterator[CsvRow]:
        """The records in bytes [start, end) (cut at row ends), numbered from `first_line`."""
        yield from self._records(header=False, span=(start, end, first_line))

    def plain_lines(self) -> Iterator[list[str]]:
        """The lines after the header, many at a time, for a file no record of which needs the
        csv module: UTF-8 (or ASCII) with no quote, NUL or bare carriage return. Each line's
        cells are `line.split(delimiter)` (an empty line's none), exactly what `read` makes of it.

        Raises NotPlainError, at the first part of the file that is not so: the caller reads the
        file with `read` instead (what it was given until then is of no further use).
        """
        with self.path.open("rb") as fh:
            for lines, _ in self._plain_blocks(fh):
                yield lines

    def _plain_blocks(self, fh: BinaryIO) -> Iterator[tuple[list[str], int]]:
        """`plain_lines` from the open file `fh`, each block with the offset of the byte after it."""
        if self.layout.encoding not in ("utf-8", "utf-8-sig") or self.bare_cr:
            raise NotPlainError(self.layout.encoding)
        carry = b""
        first = True
        offset = 0
        while True:
            if len(carry) > FIELD_LIMIT - _CHUNK_BYTES:
                raise NotPlainError("a long line")  # `read` hands lines this long to the csv module
            chunk = fh.read(_CHUNK_BYTES)
            data = carry + chunk if carry else chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
            else:
                carry = b""  # the last line, without its end
            if not data:
                if not chunk:
                    return
                continue
            if b'"' in data or b"\x00" in data:
                raise NotPlainError("quotes")
            size = len(data)
            if b"\r" in data:
                data = data.replace(b"\r\n", b"\n")
                if b"\r" in data:
                    raise NotPlainError("a bare carriage return")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise NotPlainError("bytes that are not UTF-8") from None
            lines = text.split("\n")
            if lines[-1] == "":
                lines.pop()  # after the last line end
            if first:
                first = False
                del lines[0]  # the header
            offset += size
            yield lines, offset
            if not chunk:
                return

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number where the record starts, its cells), header excluded; unreadable rows skipped."""
        for row in self.read():
            if row.cells is not None:
                yield row.line, row.cells

    def _text_lines(
        self, raw: BinaryIO, notes: dict[int, str], oversized: set[int], span: tuple[int, int, int] | None
    ) -> Generator[str]:
        encoding = self.layout.encoding
        if encoding.startswith("utf-16"):
            # Line ends cannot be found in UTF-16 bytes; the codec reads them (bare \r too).
            text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
            try:
                for number, line in enumerate(text, 1):
                    if "\ufffd" in line:
                        notes[number] = (
                            f"line {number} has bytes {encoding} cannot decode; they were replaced"
                        )
                    yield line
            finally:
                text.detach()  # the caller closes the file it opened
            return
        decoder = LineDecoder(
            encoding,
            lambda note: notes.__setitem__(note.line, note.message),
            provisional=self._provisional,
            doubt=self._doubt,
        )
        first_line = 1
        if span is None:
            chunks = iter(lambda: raw.read(_CHUNK_BYTES), b"")
        else:
            start, end, first_line = span
            raw.seek(start)
            chunks = _bounded_chunks(raw, end - start)
            decoder.at_start = False  # a range never holds the file's BOM
        for number, data in enumerate(physical_lines(chunks, LINE_LIMIT), first_line):
            if data is None:
                oversized.add(number)
                yield "\n"
            else:
                yield decoder.decode(number, data)

    def _records(self, *, header: bool, span: tuple[int, int, int] | None = None) -> Generator[CsvRow]:
        notes: dict[int, str] = {}
        oversized: set[int] = set()
        with self.path.open("rb") as raw:
            if not header:
                self._raw = raw
            lines = self._text_lines(raw, notes, oversized, span)
            try:
                yield from _split(
                    lines, self.layout.delimiter or ",", notes, oversized, span[2] if span else 1
                )
            finally:
                lines.close()  # before the file closes under it


class NotPlainError(Exception):
    """The file has a part `CsvFile.plain_lines` cannot read as plain lines."""


class _Feed:
    """The lines the csv module reads a quoted record from: the one handed back, then more.

    `taken` collects what it read, so the record's text and line count are known.
    """

    __slots__ = ("back", "lines", "taken")

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.back: str | None = None
        self.taken: list[str] = []

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.back is not None:
            line, self.back = self.back, None
        else:
            line = next(self.lines)
        self.taken.append(line)
        return line


def _split(
    lines: Iterator[str], delimiter: str, notes: dict[int, str], oversized: set[int], first_line: int
) -> Iterator[CsvRow]:
    """The records of `lines` (each with its line end), as the csv module reads them.

    A line without a quote or NUL is one record whose cells are its text split at the
    delimiter: exactly what the csv module makes of it, in one C call instead of its
    per-character parser. Only lines with a quote (which may open a cell running over
    several lines) or a NUL (an error) go through the csv module.
    """
    feed = _Feed(lines)
    reader = csv.reader(feed, delimiter=delimiter, strict=False)
    start = first_line
    for line in lines:
        problem: str | None = None
        if '"' not in line and "\x00" not in line and len(line) <= FIELD_LIMIT:
            text = line.rstrip("\r\n")
            cells: list[str] | None = text.split(delimiter) if text else []
            end = start
        else:
            feed.back, feed.taken = line, []
            try:
                cells = next(reader)
            except StopIteration:  # pragma: no cover - the line handed back is always read
                return
            except csv.Error as exc:
                cells, problem = None, str(exc)
            text = "".join(feed.taken).rstrip("\r\n")
            end = start + len(feed.taken) - 1
        row = CsvRow(start, cells, raw=text)
        # Most files have no note and no oversized line: nothing to look up per line then.
        for number in range(start, end + 1) if notes or oversized else ():
            if number in notes:
                row.notes.append(("encoding", notes.pop(number)))
            if number in oversized:
                oversized.discard(number)
                row.cells = None
                problem = f"line {number} is longer than {LINE_LIMIT // (1024 * 1024)} MiB"
        if problem is not None:
            reason = "unreadable_row"
            if "field larger" in problem:
                reason, problem = (
                    "oversized_cell",
                    f"a cell is larger than {FIELD_LIMIT // (1024 * 1024)} MiB",
                )
            elif "longer than" in problem:
                reason = "oversized_cell"
            row.notes.insert(0, (reason, f"line {start}: {problem}"))
        yield row
        start = end + 1
