"""Salesforce wire values made canonical (REST JSON and Bulk CSV alike) and SOQL literals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_NUMBERS = frozenset({"double", "int", "long"})
_AMOUNTS = frozenset({"currency", "percent"})


def parse_stamp(text: str) -> datetime:
    """A Salesforce dateTime (`…000+0000` in JSON, `…000Z` in CSV) as an aware UTC datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"Salesforce dateTime without a zone: {text!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Past year 9999 (or before year 1) once in UTC: as bad as any unreadable stamp.
        raise ValueError(f"Salesforce dateTime out of range: {text!r}") from None


def soql_datetime(value: datetime) -> str:
    """A SOQL dateTime literal with milliseconds, which SystemModstamp carries."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def soql_select(
    columns: list[str], sobject: str, where: str = "", *, order_by: str = "", limit: int | None = None
) -> str:
    """A SELECT from parts this connector builds itself; values go in through the literals above."""
    parts = [f"SELECT {', '.join(columns)} FROM {sobject}"]  # noqa: S608 - SOQL of our own parts
    if where:
        parts.append(f"WHERE {where}")
    if order_by:
        parts.append(f"ORDER BY {order_by}")
    if limit is not None:
        parts.append(f"LIMIT {limit}")
    return " ".join(parts)


def canonical(value: Any, field_type: str) -> Any:
    """One JSON-safe form per value, so a record read by REST and by Bulk hashes the same."""
    if value is None or value == "":
        return None
    if field_type == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if field_type in _NUMBERS:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if field_type in _AMOUNTS:
        # Amounts travel as text: a float would bring binary noise into the stored total.
        try:
            return format(Decimal(str(value)).normalize(), "f")
        except InvalidOperation:
            return str(value)
    if field_type == "datetime":
        try:
            return parse_stamp(str(value)).isoformat()
        except ValueError:
            return str(value)
    return value if isinstance(value, str) else str(value)
