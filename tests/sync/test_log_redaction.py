"""Log redaction takes tokens out of a logged traceback and leaves its file paths whole."""

from __future__ import annotations

import base64
import importlib.util
import json
import secrets
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from connectors import redact
from connectors.redact import _PATTERNS
from sync.log import configure_logging

# Where a virtualenv of a deployment puts its packages: one run of 40+ token characters
# (`/` is base64) up to the dot of `python3.11`.
VENV = Path("opt/customer-sync/releases/2026-11-30/venv/lib/python3.11/site-packages")


def _token() -> str:
    # base64 with its `+` and `/`, as AWS-style secrets and many refresh tokens are; one with a
    # `/` in it, so the path rule has to tell them apart.
    while "/" not in (token := base64.b64encode(secrets.token_bytes(33)).decode()):
        pass
    return token


def test_a_logged_traceback_keeps_its_paths_and_loses_its_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / VENV / "vendorlib" / "client.py"
    module.parent.mkdir(parents=True)
    token, hex_token = _token(), secrets.token_hex(20)
    module.write_text(
        "def call(token: str, other: str) -> None:\n    raise RuntimeError(f'refused {token} and {other}')\n",
        encoding="utf-8",
    )
    spec = importlib.util.spec_from_file_location("vendorlib_client", module)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)

    configure_logging("INFO", json=True)
    capsys.readouterr()
    try:
        loaded.call(token, hex_token)
    except RuntimeError:
        structlog.get_logger("test").exception("call.failed")
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]

    shown = line["exception"]
    assert f'File "{module}", line 2, in call' in shown  # the real frame, path whole
    assert "python3.11/site-packages/vendorlib/client.py" in shown
    assert token not in shown and hex_token not in shown
    assert "RuntimeError: refused [redacted] and [redacted]" in shown


@pytest.mark.parametrize(
    "path",
    [
        "/home/operator/customer-sync/venv/lib/python3.11/site-packages/celery/app/trace.py",
        "/Users/Operator/Projects/customer_sync/.venv/lib/python3.11/site-packages/kombu/utils.py",
        "/usr/local/lib/python3.11/site-packages/sqlalchemy/engine/base.py",
    ],
)
def test_paths_are_not_tokens(path: str) -> None:
    line = f'  File "{path}", line 453, in trace_task'
    assert redact(line) == line


@pytest.mark.parametrize(
    "text",
    [
        f"refresh token {secrets.token_hex(20)}",
        f"key {_token()}",
        f"https://example.com/reset/{_token()}",
        f"/srv/cache/{secrets.token_hex(24)}/entry",  # a token as a directory name is still one
    ],
    # Named, not shown: the tokens are drawn afresh in each process (pytest-xdist compares ids).
    ids=["hex", "base64", "url", "directory"],
)
def test_tokens_still_are(text: str) -> None:
    assert "[redacted]" in redact(text)


@pytest.mark.parametrize("lead", ["/", "+", "-"])
def test_a_token_that_begins_with_a_non_word_character_goes_whole(lead: str) -> None:
    # base64 tokens begin with `/` or `+` one time in 32; a run found from a word boundary on
    # left that first character in front of `[redacted]`.
    token = lead + base64.b64encode(secrets.token_bytes(33)).decode()[1:]
    assert redact(f"refused {token} and more") == "refused [redacted] and more"


@pytest.mark.parametrize(
    "text",
    [
        "sid=abc",  # a secret-named key, however short its value
        "token:x",
        "eyJa.eyJb.c",  # a JWT's shape
        "00D000000000001!x",  # a Salesforce session id's
        "Bearer abcdefgh",
        "/" + secrets.token_hex(20),  # a run of 40 token characters after a path's slash
    ],
    ids=["sid", "token", "jwt", "session", "bearer", "path"],
)
def test_short_secrets_are_redacted_too(text: str) -> None:
    assert "[redacted]" in redact(text)


@given(st.text(alphabet="aZ09_/-.:=! \teyJD" + "\u00a0", max_size=45))
def test_text_left_alone_as_plain_is_what_every_pattern_leaves_alone(text: str) -> None:
    # `redact` skips its patterns for text none of them can match: the skip must change nothing.
    every_pattern = text
    for pattern, replacement in _PATTERNS:
        every_pattern = pattern.sub(replacement, every_pattern)
    assert redact(text) == every_pattern


def test_a_short_value_quoting_a_row_is_not_logged(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    capsys.readouterr()
    structlog.get_logger("test").info("db.failed", detail="DETAIL:  Key (email)=(a@b.c)")
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert line["detail"] == "DETAIL:  (not logged: it quotes the row)"
