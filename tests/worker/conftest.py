"""Real Celery workers (subprocesses) on the real Redis, each test session on its own queue."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from models import get_engine
from sync.celery import close_app, make_app
from sync.settings import Settings
from tests.conftest import truncate_all

CELERY = Path(sys.executable).with_name("celery")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Broker:
    """One test session's corner of Redis: a random database, its own queue and key prefix."""

    url: str
    queue: str
    prefix: str

    def env(self, **overrides: Any) -> dict[str, str]:
        values = {
            "CELERY_BROKER_URL": self.url,
            "CELERY_QUEUE": self.queue,
            "CELERY_KEY_PREFIX": self.prefix,
            "LOG_LEVEL": "INFO",
            **{k.upper(): str(v) for k, v in overrides.items()},
        }
        return values

    def settings(self, **overrides: Any) -> Settings:
        return Settings(
            celery_broker_url=self.url, celery_queue=self.queue, celery_key_prefix=self.prefix, **overrides
        )


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    tag = uuid.uuid4().hex[:10]
    url = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
    found = Broker(url, f"cs-test-{tag}", f"cs-test-{tag}:")
    yield found
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{found.prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def store(pg_url: str) -> str:
    truncate_all(get_engine(pg_url))
    return pg_url


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the worker: no ack, no cleanup, as when a machine dies."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Processes:
    """Worker, beat and Flower processes of one test; all stopped when it ends."""

    broker: Broker
    store_url: str
    logs: Path
    started: list[Worker] = field(default_factory=list)

    def env(self, **overrides: Any) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FLOWER_"))}
        return {**base, "DATABASE_URL": self.store_url, **self.broker.env(**overrides)}

    def spawn(self, name: str, args: list[str], **overrides: Any) -> Worker:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(CELERY), "-A", "sync", *args],
                env=self.env(**overrides),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group, so a kill reaches every child
            )
        started = Worker(name, proc, log)
        self.started.append(started)
        return started

    def worker(self, app: Celery, *, pool: str = "solo", concurrency: int = 1, **overrides: Any) -> Worker:
        name = f"w{len(self.started)}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        args = ["worker", "-P", pool, "-c", str(concurrency), "-Q", self.broker.queue, "-n", name]
        args += ["--without-gossip", "--without-mingle", "-E", "-l", "INFO"]
        started = self.spawn(name, args, **overrides)
        wait_for(lambda: bool(app.control.ping(destination=[name], timeout=0.5)), 30, started)
        return started

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()

    def dump_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log.read_text(errors='replace')[-4000:]}" for p in self.started)


def wait_for(check: Callable[[], bool], seconds: float, proc: Worker | None = None) -> None:
    """Poll `check` until it holds; fail with the process's log if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.proc.poll() is not None:
            pytest.fail(
                f"{proc.name} exited {proc.proc.returncode}:\n{proc.log.read_text(errors='replace')[-4000:]}"
            )
        time.sleep(0.2)
    pytest.fail(
        f"gave up after {seconds} s" + (f":\n{proc.log.read_text(errors='replace')[-4000:]}" if proc else "")
    )


@pytest.fixture
def processes(
    broker: Broker, store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Processes]:
    found = Processes(broker, store, tmp_path)
    try:
        yield found
    finally:
        found.stop_all()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            sys.stderr.write(found.dump_logs())


@pytest.fixture
def client_app(broker: Broker) -> Iterator[Celery]:
    """The test's own app, to send tasks by name and read their results."""
    app = make_app(broker.settings())
    yield app
    close_app(app)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
