"""Shared fixtures: a throw-away PostgreSQL database and SQLite file per session, cleaned per test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

# pytest-xdist's workers run with COLUMNS=80 set; the CLI's rich consoles take
# COLUMNS once, when first imported, and would keep 80 for the tests that give their own width.
os.environ.pop("COLUMNS", None)

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import Engine

import models
from models.db import get_engine, get_read_engine
from tests.shared import shared_dir

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS_HOSTPORT = ("127.0.0.1", 6379)

# Property tests: on CI the same examples every run (derived from each test's source), no example
# database (a failure saved by an earlier run must not decide this one) and no timing health check
# (a loaded runner is not a slow strategy). Locally they draw fresh examples each run and replay
# the failures saved in .hypothesis/, so they keep finding new faults.
# Loaded here, before any test module builds its own `settings(...)` on top of the default.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", print_blob=True)


def hypothesis_profile(environ: Mapping[str, str]) -> str:
    """`HYPOTHESIS_PROFILE` when set, else `ci` wherever CI is set (CI services and `.ci/run` set it)."""
    return environ.get("HYPOTHESIS_PROFILE") or ("ci" if environ.get("CI") else "dev")


settings.load_profile(hypothesis_profile(os.environ))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = []
    if not _reachable("127.0.0.1", 5432):
        missing.append("PostgreSQL on 127.0.0.1:5432")
    if not _reachable(*REDIS_HOSTPORT):
        missing.append("Redis on 127.0.0.1:6379")
    if missing:
        pytest.exit(
            "the test suite needs real services that are not running: "
            + ", ".join(missing)
            + " (see README, 'Running the tests')",
            returncode=3,
        )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated to head, dropped after the session."""
    name = f"cs_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    models.upgrade(url)
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()
    get_read_engine(url).dispose()
    get_read_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An embedded SQLite store that migrates itself on first use, as a new user's does."""
    path = tmp_path_factory.mktemp("store") / "customer_sync.db"
    url = f"sqlite:///{path}"
    models.ensure_schema(url)
    return url


def truncate_all(engine: Engine) -> None:
    """Empty every table, so each test starts from a clean store."""
    tables = [t.name for t in reversed(models.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))
            # Restart autoincrement keys too, so pks are as predictable as on PostgreSQL.
            has_sequences = conn.execute(
                sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
            ).first()
            if has_sequences:
                conn.execute(sa.text("DELETE FROM sqlite_sequence"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The store URL, once for embedded SQLite and once for PostgreSQL; emptied before each test."""
    url: str = request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")
    truncate_all(get_engine(url))
    return url


@pytest.fixture
def pg_only_url(pg_url: str) -> str:
    """The PostgreSQL store alone, emptied before the test."""
    truncate_all(get_engine(pg_url))
    return pg_url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return get_engine(db_url)


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The real wire formats in ../shared/fixtures (next to the checkout, as on CI); fails when missing."""
    fixtures = shared_dir() / "fixtures"
    if not fixtures.is_dir():
        pytest.fail(f"{fixtures} is missing: the tests read the real wire formats from it", pytrace=False)
    return fixtures
