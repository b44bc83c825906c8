"""Structured logging: JSON lines (or a console view) with the run id bound."""

from __future__ import annotations

import logging
import re
import sys

import structlog

from connectors import redact

# Ids we mint ourselves; they are long hex but never secret, and people grep for them.
_NOT_REDACTED = frozenset({"event", "timestamp", "level", "request_id", "run_id", "logger"})


# PostgreSQL's DETAIL and CONTEXT lines quote the row an error is about (`Failing row contains
# (...)`, `Key (email)=(...) already exists`, `COPY customer, line 1: "..."`): customer data,
# which the statement's parameters (hidden by the engines) are not the only way to leak.
_ROW_QUOTES = re.compile(r"^(DETAIL|CONTEXT):[ \t].*$", re.MULTILINE)


def redact_secrets(
    _logger: object, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Replace token- and session-id-looking parts of every text value, whoever logged it, and
    the database's quotes of a row (a traceback's DETAIL and CONTEXT lines)."""
    for key, value in event.items():
        if isinstance(value, str) and key not in _NOT_REDACTED:
            value = redact(value)
            if "DETAIL:" in value or "CONTEXT:" in value:  # what `_ROW_QUOTES` needs, found cheaply
                value = _ROW_QUOTES.sub(r"\1:  (not logged: it quotes the row)", value)
            event[key] = value
    return event


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written (tests and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Send structlog output to stderr, so stdout stays clean for `--json` results."""
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            # Plain tracebacks: the rich default prints frame locals, which can hold secrets.
            colors=False,
            exception_formatter=structlog.dev.plain_traceback,
        )
    )
    structlog.configure(
        processors=[*processors, structlog.processors.format_exc_info, redact_secrets, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger for one module."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
