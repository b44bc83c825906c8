"""The SOQL subset a sync connector sends, parsed and evaluated the way Salesforce does."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldDef",
    "OrderItem",
    "SObjectSchema",
    "SoqlError",
    "SoqlQuery",
    "id18",
    "normalize_id",
    "parse_datetime",
    "parse_soql",
    "truncate_ms",
]

TEXT_TYPES = frozenset({"string", "email", "phone", "textarea", "picklist", "url"})
NUMBER_TYPES = frozenset({"double", "int", "currency", "percent"})
ID_TYPES = frozenset({"id", "reference"})
FIELD_TYPES = TEXT_TYPES | NUMBER_TYPES | ID_TYPES | {"date", "datetime", "boolean"}

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]


class SoqlError(Exception):
    """A query Salesforce would refuse; `error_code` is the REST errorCode it answers with."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


# --- ids -------------------------------------------------------------------------------

_ID_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_ID_RE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def id18(id15: str) -> str:
    """The 18-character, case-insensitively unique form of a 15-character Salesforce id."""
    suffix = ""
    for start in (0, 5, 10):
        chunk = id15[start : start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if char in string.ascii_uppercase)
        suffix += _ID_SUFFIX_ALPHABET[bits]
    return id15 + suffix


def normalize_id(value: str) -> str | None:
    """The 18-character id for a 15- or 18-character one (suffix recomputed), else None."""
    if not _ID_RE.fullmatch(value):
        return None
    return id18(value[:15])


# --- datetimes -------------------------------------------------------------------------

_DATETIME_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})")


def truncate_ms(value: dt.datetime) -> dt.datetime:
    """UTC with millisecond precision: what Salesforce stores for a dateTime field."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Salesforce datetimes are always zoned")
    value = value.astimezone(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parse_datetime(text: str) -> dt.datetime:
    """Parse an ISO 8601 dateTime that carries a zone (Z, +hh:mm or +hhmm); else ValueError."""
    match = _DATETIME_RE.fullmatch(text)
    if not match:
        raise ValueError(f"not a zoned ISO 8601 dateTime: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    if zone == "Z":
        tz = dt.UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = dt.timezone(sign * offset)
    value = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz)
    return truncate_ms(value)


# --- schema ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject as describe() reports it."""

    name: str
    type: str

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")


@dataclass
class SObjectSchema:
    """An sObject type: its API name, id prefix and fields (looked up case-insensitively)."""

    name: str
    key_prefix: str
    fields: dict[str, FieldDef] = dataclasses.field(default_factory=dict)

    def add_field(self, name: str, field_type: str) -> FieldDef:
        if field_type not in FIELD_TYPES:
            raise ValueError(f"unknown field type {field_type!r}")
        existing = self.fields.get(name.lower())
        if existing is not None:
            return existing
        definition = FieldDef(name, field_type)
        self.fields[name.lower()] = definition
        return definition

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())


# --- tokens ----------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<zoneless>\d{4}-\d{2}-\d{2}T[\d:.]+)
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),-])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int

    def keyword(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), literal[1:-1])


# --- query -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderItem:
    field: FieldDef
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class SoqlQuery:
    """A parsed, schema-checked query; `run` applies WHERE, ORDER BY, OFFSET and LIMIT."""

    text: str
    sobject: str
    fields: tuple[str, ...]
    count_only: bool
    where: Predicate | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None

    def run(self, records: Iterable[Record]) -> list[Record]:
        rows = [r for r in records if self.where is None or self.where(r)]
        for item in reversed(self.order_by):
            # Stable sorts from the last key to the first give a multi-key order.
            name = item.field.name
            present = [r for r in rows if r.get(name) is not None]
            nulls = [r for r in rows if r.get(name) is None]
            present.sort(key=_row_key(name, _sort_key(item.field)), reverse=item.descending)
            rows = nulls + present if item.nulls_first else present + nulls
        if self.offset:
            rows = rows[self.offset :]
        if self.limit is not None:
            rows = rows[: self.limit]
        return rows


def _row_key(name: str, key: Callable[[Any], Any]) -> Callable[[Record], Any]:
    return lambda row: key(row[name])


def _sort_key(definition: FieldDef) -> Callable[[Any], Any]:
    # Salesforce orders and compares text case-insensitively; ids compare exactly.
    if definition.type in TEXT_TYPES:
        return lambda v: str(v).casefold()
    return lambda v: v


def parse_soql(text: str, resolve: Callable[[str], SObjectSchema | None]) -> SoqlQuery:
    """Parse `text` against the schemas `resolve` returns; raise SoqlError as Salesforce would."""
    return _Parser(text, resolve).parse()


class _Parser:
    def __init__(self, text: str, resolve: Callable[[str], SObjectSchema | None]) -> None:
        self.text = text
        self.resolve = resolve
        self.tokens = self._tokenize()
        self.index = 0
        self.schema: SObjectSchema | None = None

    # errors carry the caret diagram Salesforce puts in its messages
    def _error(self, code: str, pos: int, detail: str) -> SoqlError:
        row = self.text.count("\n", 0, pos) + 1
        line_start = self.text.rfind("\n", 0, pos) + 1
        line_end = self.text.find("\n", pos)
        line = self.text[line_start : line_end if line_end >= 0 else len(self.text)]
        column = pos - line_start + 1
        caret = " " * (column - 1) + "^"
        return SoqlError(code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{detail}")

    def _unexpected(self, token: _Token) -> SoqlError:
        if token.kind == "eof":
            return self._error("MALFORMED_QUERY", token.pos, "unexpected token: <EOF>")
        return self._error("MALFORMED_QUERY", token.pos, f"unexpected token: {token.text}")

    def _tokenize(self) -> list[_Token]:
        tokens: list[_Token] = []
        pos = 0
        while pos < len(self.text):
            match = _TOKEN_RE.match(self.text, pos)
            if not match:
                char = self.text[pos]
                detail = "unterminated string" if char == "'" else f"unexpected token: {char}"
                raise self._error("MALFORMED_QUERY", pos, detail)
            kind = match.lastgroup or ""
            if kind == "zoneless":
                # A dateTime literal must carry its zone (Z or +hh:mm) in SOQL.
                raise self._error("MALFORMED_QUERY", pos, f"unexpected token: {match.group()}")
            if kind != "ws":
                tokens.append(_Token(kind, match.group(), pos))
            pos = match.end()
        tokens.append(_Token("eof", "", len(self.text)))
        return tokens

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def _accept(self, *keywords: str) -> bool:
        if self.current.keyword() in keywords:
            self._advance()
            return True
        return False

    def _expect_keyword(self, keyword: str) -> None:
        if not self._accept(keyword):
            raise self._unexpected(self.current)

    def _expect_punct(self, char: str) -> None:
        if self.current.kind == "punct" and self.current.text == char:
            self._advance()
            return
        raise self._unexpected(self.current)

    def _field(self, token: _Token) -> FieldDef:
        assert self.schema is not None
        definition = self.schema.field(token.text) if token.kind == "ident" else None
        if definition is None:
            if token.kind != "ident":
                raise self._unexpected(token)
            raise self._error(
                "INVALID_FIELD",
                token.pos,
                f"No such column '{token.text}' on entity '{self.schema.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the "
                "custom field name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        return definition

    def _integer(self) -> int:
        token = self._advance()
        if token.kind != "number" or not token.text.isdigit():
            raise self._unexpected(token)
        return int(token.text)

    def parse(self) -> SoqlQuery:
        self._expect_keyword("SELECT")
        count_only = False
        select_tokens: list[_Token] = []
        if self.current.keyword() == "COUNT" and self.tokens[self.index + 1].text == "(":
            self._advance()
            self._expect_punct("(")
            self._expect_punct(")")
            count_only = True
        else:
            while True:
                token = self._advance()
                if token.kind != "ident" or token.keyword() == "FROM":
                    raise self._unexpected(token)
                select_tokens.append(token)
                if not (self.current.kind == "punct" and self.current.text == ","):
                    break
                self._advance()
        self._expect_keyword("FROM")
        object_token = self._advance()
        if object_token.kind != "ident":
            raise self._unexpected(object_token)
        self.schema = self.resolve(object_token.text)
        if self.schema is None:
            raise self._error(
                "INVALID_TYPE",
                object_token.pos,
                f"sObject type '{object_token.text}' is not supported. If you are attempting "
                "to use a custom object, be sure to append the '__c' after the entity name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        fields = tuple(self._field(t).name for t in select_tokens)
        where = self._expression() if self._accept("WHERE") else None
        order_by: list[OrderItem] = []
        if self._accept("ORDER"):
            self._expect_keyword("BY")
            order_by.append(self._order_item())
            while self.current.kind == "punct" and self.current.text == ",":
                self._advance()
                order_by.append(self._order_item())
        limit = self._integer() if self._accept("LIMIT") else None
        offset = None
        if self.current.keyword() == "OFFSET":
            offset_pos = self._advance().pos
            offset = self._integer()
            if offset > 2000:
                raise self._error(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    offset_pos,
                    f"Maximum SOQL offset allowed is 2000, was {offset}",
                )
        if self.current.kind != "eof":
            raise self._unexpected(self.current)
        return SoqlQuery(
            text=self.text,
            sobject=self.schema.name,
            fields=fields,
            count_only=count_only,
            where=where,
            order_by=tuple(order_by),
            limit=limit,
            offset=offset,
        )

    def _order_item(self) -> OrderItem:
        definition = self._field(self._advance())
        descending = False
        if self._accept("DESC"):
            descending = True
        else:
            self._accept("ASC")
        # Salesforce puts nulls first when ascending and last when descending, by default.
        nulls_first = not descending
        if self._accept("NULLS"):
            if self._accept("FIRST"):
                nulls_first = True
            else:
                self._expect_keyword("LAST")
                nulls_first = False
        return OrderItem(definition, descending, nulls_first)

    def _expression(self) -> Predicate:
        # SOQL refuses AND and OR side by side without parentheses; so does this parser.
        parts = [self._unary()]
        joiner = ""
        while self.current.keyword() in ("AND", "OR"):
            if joiner and self.current.keyword() != joiner:
                raise self._unexpected(self.current)
            joiner = self._advance().keyword()
            parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        if joiner == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)

    def _unary(self) -> Predicate:
        if self._accept("NOT"):
            inner = self._unary()
            return lambda r: not inner(r)
        if self.current.kind == "punct" and self.current.text == "(":
            self._advance()
            inner = self._expression()
            self._expect_punct(")")
            return inner
        return self._condition()

    def _condition(self) -> Predicate:
        definition = self._field(self._advance())
        name = definition.name
        operator = self.current
        if operator.keyword() in ("IN", "NOT"):
            negate = self._accept("NOT")
            self._expect_keyword("IN")
            self._expect_punct("(")
            values = [self._value(definition)]
            while self.current.kind == "punct" and self.current.text == ",":
                self._advance()
                values.append(self._value(definition))
            self._expect_punct(")")
            key = _sort_key(definition)
            wanted = {key(v) for v in values if v is not None}
            has_null = any(v is None for v in values)

            def member(r: Record) -> bool:
                value = r.get(name)
                return has_null if value is None else key(value) in wanted

            return (lambda r: not member(r)) if negate else member
        if operator.keyword() == "LIKE":
            self._advance()
            if definition.type not in TEXT_TYPES | ID_TYPES:
                raise self._error(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    operator.pos,
                    f"invalid operator on {definition.type} field: {name}",
                )
            pattern = self._value(definition)
            regex = _like_regex(str(pattern))
            return lambda r: r.get(name) is not None and bool(regex.fullmatch(str(r.get(name))))
        if operator.kind != "op":
            raise self._unexpected(operator)
        self._advance()
        op = "!=" if operator.text == "<>" else operator.text
        if definition.type == "boolean" and op not in ("=", "!="):
            raise self._error(
                "INVALID_QUERY_FILTER_OPERATOR",
                operator.pos,
                f"invalid operator on boolean field: {name}",
            )
        value = self._value(definition)
        return _comparison(name, op, value, _sort_key(definition))

    def _value(self, definition: FieldDef) -> Any:
        token = self._advance()
        keyword = token.keyword()
        if keyword == "NULL":
            return None
        kind = definition.type
        quoted = token.kind == "string"

        def wrong_type(type_name: str, want_quotes: bool) -> SoqlError:
            quotes = "be enclosed in quotes" if want_quotes else "not be enclosed in quotes"
            return self._error(
                "INVALID_FIELD",
                token.pos,
                f"value of filter criterion for field '{definition.name}' must be of type "
                f"{type_name} and should {quotes}",
            )

        if kind == "datetime":
            if token.kind != "datetime":
                raise wrong_type("dateTime", want_quotes=False)
            return parse_datetime(token.text)
        if kind == "date":
            if token.kind != "date":
                raise wrong_type("date", want_quotes=False)
            return dt.date.fromisoformat(token.text)
        if kind == "boolean":
            if keyword not in ("TRUE", "FALSE"):
                raise wrong_type("boolean", want_quotes=False)
            return keyword == "TRUE"
        if kind in NUMBER_TYPES:
            sign = 1
            if token.kind == "punct" and token.text == "-":
                sign, token = -1, self._advance()
            if token.kind != "number":
                raise wrong_type("double", want_quotes=False)
            number = float(token.text) if "." in token.text else int(token.text)
            return sign * number
        if not quoted:
            raise wrong_type("id" if kind in ID_TYPES else "string", want_quotes=True)
        literal = _unescape(token.text)
        if kind in ID_TYPES and literal:
            normalized = normalize_id(literal)
            if normalized is None:
                raise self._error("INVALID_QUERY_FILTER_OPERATOR", token.pos, f"invalid ID field: {literal}")
            return normalized
        return literal


def _like_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


_OPERATORS: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _comparison(name: str, op: str, value: Any, key: Callable[[Any], Any]) -> Predicate:
    compare = _OPERATORS[op]
    if value is None:
        return (lambda r: r.get(name) is None) if op == "=" else (lambda r: r.get(name) is not None)
    wanted = key(value)

    def predicate(r: Record) -> bool:
        current = r.get(name)
        if current is None:
            # Unlike SQL, SOQL's != matches null values; range operators never do.
            return op == "!="
        return compare(key(current), wanted)

    return predicate
