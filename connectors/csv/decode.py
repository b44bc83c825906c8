"""Encodings of CSV exports: the file's encoding from a sample, and each line decoded on its own."""

# ruff: noqa: RUF002, RUF003  (curly quotes and look-alike letters are what it reads)

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from connectors.base import FatalSourceError

# The single-byte encodings exports come in when they are not Unicode: Windows Excel writes
# cp1252, old Excel for Mac writes Mac Roman.
SINGLE_BYTE: tuple[str, ...] = ("cp1252", "mac_roman")
UTF8_FAMILY: tuple[str, ...] = ("utf-8", "utf-8-sig")


# Typographic punctuation Windows text is full of (cp1252 0x80-0x9F): quotes, dashes, the
# ellipsis. Mac Roman reads the same bytes as accented lower-case letters
# (`ìAnnieî`, `Flat 2 ñ Rear`), so they must not count against cp1252 the way stray symbols do.
_TYPOGRAPHIC_QUOTES = frozenset("\u2018\u201a\u201c\u201d\u201e\u00ab\u00bb\u2039\u203a")
_DASHES = frozenset("\u2013\u2014")
# A lone non-ASCII letter between spaces is a misread dash or symbol (` ñ `, ` Ð `), except
# the one-letter words of French and Italian.
_ONE_LETTER_WORDS = frozenset("àèÀÈ")


def _score_char(ch: str, prev_letter: bool, prev_lower: bool, next_char: str, prev_char: str = "") -> int:
    category = unicodedata.category(ch)
    # Latin-1 letters: what Western European names are made of; at a word's start also the
    # Latin Extended-A capitals cp1252 holds (Š, Ž, Œ: Czech, Slovak, Baltic, French names).
    common = "\u00c0" <= ch <= "\u00ff"
    alone = category[0] == "L" and not prev_letter and not next_char.isalpha() and ch not in _ONE_LETTER_WORDS
    if alone:
        return -2
    if ch in "\u00aa\u00ba":
        # Ordinals follow a number (`2ª`, `1º`); after a letter they are a misread `™` or `º`.
        return 1 if prev_char.isdigit() else -3
    if "\ufb00" <= ch <= "\ufb06":
        return -3  # ligatures (`ﬂ`) are no one's spelling: Mac Roman's reading of cp1252 `ß`
    if category == "Ll":
        if "A" <= next_char <= "Z":
            return -2  # "OíBrien": a lower-case accent before a capital is a misread quote
        if not prev_letter:
            return 0  # names start in upper case: a lower-case accent first is no evidence
        return 2 if common else 1
    if category == "Lu":
        if prev_lower or (prev_letter and next_char.islower()):
            return -2  # "RenÈ", "JŸrgen", "HÙtel": a capital inside a lower-case word is mojibake
        if prev_letter:
            return 1
        return 2 if common or "\u0100" <= ch <= "\u017f" else 0
    if category[0] in "LM":
        return 1
    if ch == "\u2018":
        return 1 if next_char.isalpha() and not prev_letter else -1  # it opens (`‘Annie’`), never closes
    if ch == "\u2019" or ch in _TYPOGRAPHIC_QUOTES:
        # A quote that opens before a word or closes after one is typography (“Annie”)
        return 1 if prev_letter != next_char.isalpha() else 0
    if ch == "\u00b0":
        return 1 if prev_char.isdigit() or prev_char in "nN" else -3  # `5°`, `n°`
    if category in ("Cf", "Zs"):
        return 0  # no-break spaces and invisible marks are real text
    if ch in _DASHES:
        return 1 if prev_char == " " and next_char == " " else 0  # "Flat 2 \u2013 Rear": a dash between words
    if ch == "\u2026":
        return 0 if prev_letter else -1  # an ellipsis after a word
    if category in ("Pd", "Pi", "Pf", "Po", "Sc"):
        return -1
    return -3  # symbols, controls and U+FFFD in a name are what wrong decoding yields


# An apostrophe inside a word as English and Irish names write it: `John’s`, `don’t`,
# `we’ll`, `O’Brien`, `D’Arcy`. Mac Roman reads cp1252's as `í` (`Johnís`), cp1252 reads Mac
# Roman's as `Õ` (`OÕBrien`); a Spanish `Mar’a` (Mac Roman `María`) is none of these.
_CONTRACTION = re.compile(r"(?:s|t|d|m|ll|re|ve)(?![^\W\d_])|[A-Z]")
# UTF-8's typographic punctuation (E2 80 xx) read as Mac Roman (`‚Äô`) or cp1252 (`â€™`):
# the best-known mojibake there is, never text.
_QUOTE_MISREAD = re.compile(r"[^\W\d_a-z][A-Z][a-z]")
_UTF8_PUNCTUATION_MISREAD = ("\u201a\u00c4", "\u00e2\u20ac")


def plausibility(text: str) -> int:
    """How much `text` looks like names and addresses; higher is likelier the right decoding.

    Only non-ASCII characters count: every candidate encoding agrees on ASCII.
    """
    score = 0
    prev_letter = prev_lower = False
    for i, ch in enumerate(text):
        if ch < "\x80":
            prev_letter, prev_lower = ch.isalpha(), ch.islower()
            continue
        if ch == "\u2019" and prev_letter and _CONTRACTION.match(text, i + 1):
            score += 3
        elif text.startswith(_UTF8_PUNCTUATION_MISREAD, i):
            score -= 8
        elif not prev_letter and _QUOTE_MISREAD.match(text, i):
            score -= 3  # `ÑZum`, `ÒAnnie`: a capital before a capitalised word is a misread quote
        else:
            score += _score_char(ch, prev_letter, prev_lower, text[i + 1 : i + 2], text[i - 1 : i])
        category = unicodedata.category(ch)
        prev_letter, prev_lower = category[0] == "L", category == "Ll"
    return score


def suspicious_utf8(text: str) -> bool:
    """Whether valid UTF-8 reads like bytes of another encoding that happened to be valid.

    A Mac Roman or cp1252 name is valid UTF-8 only by accident, and then decodes to a
    combining mark after nothing, a private or unassigned character (`Õß` -> U+0367), or a
    letter of another script inside a Latin word (Mac Roman `l’Église` -> `lՃglise`, Armenian).
    Words of any script beside Latin ones are real text, and so is a C1 control (see
    `holds_c1`): odd data, but no accident.
    """
    prev = ""
    for i, ch in enumerate(text):
        if ch >= "\x80":
            category = unicodedata.category(ch)
            if category in ("Co", "Cn") or (category == "Mn" and not prev.isalpha()):
                return True
            if (
                category[0] == "L"
                and _NOT_LATIN(ch)
                and (_ascii_letter(prev) or _ascii_letter(text[i + 1 : i + 2]))
            ):
                return True
        prev = ch
    return False


def _NOT_LATIN(ch: str) -> bool:  # noqa: N802  (reads as the set it tests)
    # Past Latin Extended-B (U+024F), except Latin Extended Additional (Vietnamese: `Nguyễn`).
    return ch > "\u024f" and not "\u1e00" <= ch <= "\u1eff"


def _ascii_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def holds_c1(text: str) -> bool:
    """Whether `text` has a C1 control (U+0080-U+009F), which only UTF-8 reads bytes as.

    Its bytes are C2 80-9F, which no cp1252 or Mac Roman text holds: cp1252 reads them as `Â`
    before a quote, dash or caron letter, Mac Roman as `¬` before an accented letter (`¬é`).
    A line of valid UTF-8 with one is UTF-8, however its letters score.
    """
    return any("\x80" <= ch <= "\x9f" for ch in text)


def best_single_byte(data: bytes, prefer: str = "cp1252") -> str:
    """cp1252 or Mac Roman, whichever reads `data` as more plausible text; ties go to `prefer`."""
    scores = {enc: plausibility(data.decode(enc, errors="replace")) for enc in SINGLE_BYTE}
    other = next(e for e in SINGLE_BYTE if e != prefer)
    return other if scores[other] > scores[prefer] else prefer


def close_call(sample: bytes) -> bool:
    """Whether cp1252 and Mac Roman read the non-ASCII lines of `sample` about as plausibly
    (scores within a point a line): a file of symbols alone (`Ltd®`, `2½`) is told apart by chance, and
    its reader is told so (`LineDecoder(doubt=True)`)."""
    lines = [line for line in sample.splitlines() if not line.isascii()]
    if not lines:
        return False
    data = b"\n".join(lines)
    cp1252, mac_roman = (plausibility(data.decode(e, errors="replace")) for e in SINGLE_BYTE)
    # Within a point a line: a name adds several (`Müller` 2 against `M¸ller` -3), a symbol
    # repeated on every line one (`Ltd®` against `LtdÆ`), however many lines there are.
    return abs(cp1252 - mac_roman) <= len(lines)


def _utf16_without_bom(sample: bytes) -> str | None:
    # Text in UTF-16 without a BOM has a NUL in every other byte for its ASCII characters.
    even, odd = sample[0::2], sample[1::2]
    if len(sample) >= 4 and odd.count(0) > len(odd) * 0.4 and even.count(0) == 0:
        return "utf-16-le"
    if len(sample) >= 4 and even.count(0) > len(even) * 0.4 and odd.count(0) == 0:
        return "utf-16-be"
    return None


def detect_encoding(sample: bytes, complete: bool = True) -> str:
    """The file's encoding: a BOM's, else UTF-8 when its lines decode so, else cp1252 or Mac Roman.

    `complete` says the sample is the whole file (its last line is not cut short).
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        utf16 = _utf16_without_bom(sample)
        if utf16:
            return utf16
        raise FatalSourceError("not a text CSV file (it contains NUL bytes)")
    lines = sample.splitlines()
    if not complete and len(lines) > 1:
        lines.pop()  # cut by the end of the sample
    not_utf8: list[bytes] = []
    utf8: list[bytes] = []
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8.append(line)
        else:
            utf8.append(line)
    if not utf8:
        return best_single_byte(b"\n".join(not_utf8)) if not_utf8 else "utf-8"
    valid = b"\n".join(utf8)
    as_utf8 = valid.decode("utf-8")
    # Lines that fail UTF-8 beside lines that pass are evidence of a single-byte file whose
    # passing lines are accidents, unless they read better as UTF-8 (then the file is mixed).
    # With no failing line, UTF-8 is taken unless its reading is itself an accident (`Õß` in
    # Mac Roman is valid UTF-8 for one combining mark).
    if not_utf8 or suspicious_utf8(as_utf8):
        single = best_single_byte(b"\n".join([*utf8, *not_utf8]))
        if plausibility(valid.decode(single, errors="replace")) > plausibility(as_utf8):
            return single
    return "utf-8"  # with stray single-byte lines, if any, decided line by line


@dataclass(frozen=True, slots=True)
class LineNote:
    """Why one physical line was not decoded in the file's own encoding."""

    line: int
    message: str


class LineDecoder:
    """Decodes one physical line at a time, so a mixed file is read right line by line."""

    def __init__(
        self,
        encoding: str,
        on_note: Callable[[LineNote], None],
        provisional: bool = False,
        doubt: bool = False,
    ) -> None:
        """`provisional`: UTF-8 only because the sample was all ASCII; the first line past it
        that is not UTF-8 is then noted once (the file's own single-byte encoding, each such
        line read as cp1252 or Mac Roman, whichever reads it better), not each one.
        `doubt`: a single-byte file its sample could not tell apart (`close_call`); its first
        non-ASCII line is noted, saying so."""
        self.encoding = encoding
        self._on_note = on_note
        self.at_start = True
        self._provisional = provisional and encoding == "utf-8"
        self._fallback: str | None = None  # a provisional file's single-byte encoding, once found
        self._doubt = doubt and encoding in SINGLE_BYTE

    def decode(self, number: int, line: bytes) -> str:
        if line.isascii():
            self.at_start = False
            return line.decode("ascii")
        if self.at_start and self.encoding == "utf-8-sig" and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        self.at_start = False
        if self.encoding in UTF8_FAMILY:
            return self._utf8_line(number, line)
        return self._single_byte_line(number, line)

    def _utf8_line(self, number: int, line: bytes) -> str:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if self._provisional:
            # Past an ASCII sample the first such line decides the file's single-byte encoding,
            # for every later one too: read alone, a line of symbols went the other way (`2Ω`).
            told = self._fallback is not None
            self._fallback = self._fallback or best_single_byte(line)
            text, replaced = _decode_single(line, self._fallback)
            if told and not replaced:
                return text
            extra = (
                "; bytes it cannot decode were replaced"
                if replaced
                else "; the file's first 64 KiB were plain ASCII: it and the file's later lines"
                " that are not UTF-8 are read so; if any reads wrong, save the file as UTF-8"
            )
            self._on_note(LineNote(number, f"line {number} is not UTF-8: read as {self._fallback}{extra}"))
            return text
        fallback = best_single_byte(line)
        text, replaced = _decode_single(line, fallback)
        extra = "; bytes it cannot decode were replaced" if replaced else ""
        self._on_note(LineNote(number, f"line {number} is not UTF-8: read as {fallback}{extra}"))
        return text

    def _single_byte_line(self, number: int, line: bytes) -> str:
        try:
            as_utf8 = line.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            # A UTF-8 row pasted into a Windows or Mac file: taken when it holds what only
            # UTF-8 writes, or reads better as UTF-8 and is no accident of bytes that happen
            # to be valid UTF-8.
            if holds_c1(as_utf8) or (
                not suspicious_utf8(as_utf8)
                and plausibility(as_utf8) >= plausibility(line.decode(self.encoding, errors="replace"))
            ):
                self._on_note(LineNote(number, f"line {number} is UTF-8 in a {self.encoding} file"))
                return as_utf8
        text, replaced = _decode_single(line, self.encoding)
        if replaced:
            self._on_note(
                LineNote(number, f"line {number} has bytes {self.encoding} cannot decode; they were replaced")
            )
        elif self._doubt:
            self._doubt = False
            other = next(e for e in SINGLE_BYTE if e != self.encoding)
            self._on_note(
                LineNote(
                    number,
                    f"line {number}: {self.encoding} and {other} read this file almost alike;"
                    f" read as {self.encoding}: if its text reads wrong, save the file as UTF-8",
                )
            )
        return text


def _decode_single(line: bytes, encoding: str) -> tuple[str, bool]:
    try:
        return line.decode(encoding), False
    except UnicodeDecodeError:
        return line.decode(encoding, errors="replace"), True


def physical_lines(chunks: Iterable[bytes], max_line: int) -> Iterator[bytes | None]:
    """Lines ended by `\\n`, `\\r\\n` or a bare `\\r` (old Mac files), with their ends.

    A line longer than `max_line` bytes is skipped without being held in memory; None stands
    in its place, so line numbers stay right.
    """
    carry = b""
    skipping = False
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        lines = data.splitlines(keepends=True)
        # The last piece may go on in the next chunk: no end yet, or a \r whose \n is next.
        carry = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            if skipping:
                skipping = False
                yield None
            else:
                yield line
        if len(carry) > max_line:
            skipping, carry = True, b""
    if skipping:
        yield None
    elif carry:
        yield carry
