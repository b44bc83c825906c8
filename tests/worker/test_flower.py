"""Operators in Flower: a failed run's task is listed, re-applied once fixed, and the run completes."""

from __future__ import annotations

import ast
import socket
import subprocess
from pathlib import Path

import httpx
import sqlalchemy as sa
from celery import Celery

from bench.exports import SHOPIFY_HEADER, shopify_rows, write_csv
from models import get_engine
from tests.worker.conftest import CELERY, ROOT, Processes, wait_for

AUTH = ("operator", "a-long-test-password")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failed_run_is_listed_by_flower_and_reapplied_through_its_api(
    processes: Processes, client_app: Celery, tmp_path: Path
) -> None:
    port = _free_port()
    processes.worker(client_app)
    flower = processes.spawn(
        "flower",
        ["flower", f"--port={port}", "--address=127.0.0.1"],
        flower_basic_auth=":".join(AUTH),
    )
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=AUTH, timeout=5)

    def up() -> bool:
        try:
            return api.get("/api/workers").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 30, flower)
    assert httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=5).status_code == 401

    # The export is not there yet: the run fails at once, with the reason on it.
    path = tmp_path / "late.csv"
    sent = client_app.send_task("sync.csv.import", kwargs={"path": str(path), "run_id": "f" * 32})
    sent.get(timeout=30, propagate=False)
    assert sent.state == "FAILURE"
    with get_engine(processes.store_url).connect() as conn:
        run = conn.execute(sa.text("SELECT status, error FROM sync_run WHERE id = :i"), {"i": "f" * 32}).one()
    assert run.status == "failed" and "no such file" in run.error

    def listed() -> bool:
        return sent.id in api.get("/api/tasks", params={"state": "FAILURE"}).json()

    wait_for(listed, 30, flower)
    info = api.get(f"/api/task/info/{sent.id}").json()
    assert info["name"] == "sync.csv.import"

    # The operator fixes the cause and re-applies the task with the arguments Flower shows.
    write_csv(path, SHOPIFY_HEADER, shopify_rows(250, garbage=0.02, seed=9))
    kwargs = ast.literal_eval(info["kwargs"])
    reapplied = api.post("/api/task/async-apply/sync.csv.import", json={"kwargs": kwargs})
    assert reapplied.status_code == 200, reapplied.text
    new_id = reapplied.json()["task-id"]

    def finished() -> bool:
        with get_engine(processes.store_url).connect() as conn:
            return bool(
                conn.execute(
                    sa.text("SELECT status = 'succeeded' FROM sync_run WHERE id = :i"), {"i": "f" * 32}
                ).scalar()
            )

    wait_for(finished, 60, flower)
    with get_engine(processes.store_url).connect() as conn:
        run = conn.execute(sa.text("SELECT * FROM sync_run WHERE id = :i"), {"i": "f" * 32}).mappings().one()
    assert run["task_id"] == new_id
    assert run["read"] == 250
    assert run["created"] + run["rejected"] == 250
    assert run["rejected"] > 0
    assert run["error"] is None
    api.close()


def test_flower_refuses_to_start_without_basic_auth(processes: Processes) -> None:
    env = processes.env()
    env.pop("FLOWER_BASIC_AUTH", None)
    done = subprocess.run(
        [str(CELERY), "-A", "sync", "flower", "--port=0"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: Flower needs FLOWER_BASIC_AUTH=user:password; it never runs open"
    ]


def test_flower_refuses_a_login_without_a_password_in_one_line(processes: Processes) -> None:
    done = subprocess.run(
        [str(CELERY), "-A", "sync", "flower", "--port=0"],
        env=processes.env(flower_basic_auth="operator:a-long-test-password,auditor"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: FLOWER_BASIC_AUTH is not valid: expected user:password (several joined by commas), "
        "each with a user and a password"
    ]


# Every page and API route Flower 2.2 serves, /metrics and /healthcheck included.
_FLOWER_PATHS = [
    "/",
    "/workers",
    "/tasks",
    "/tasks/datatable",
    "/broker",
    "/api/workers",
    "/api/tasks",
    "/api/task/types",
    "/api/queues/length",
    "/metrics",
    "/healthcheck",
]


def test_flower_serves_nothing_without_its_basic_auth_metrics_included(processes: Processes) -> None:
    port = _free_port()
    flower = processes.spawn(
        "flower", ["flower", f"--port={port}", "--address=127.0.0.1"], flower_basic_auth=":".join(AUTH)
    )
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=base, auth=AUTH, timeout=5)

    def up() -> bool:
        try:
            return api.get("/api/workers").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 30, flower)
    with (
        httpx.Client(base_url=base, timeout=5) as anyone,
        httpx.Client(base_url=base, auth=("operator", "wrong"), timeout=5) as guesser,
    ):
        for path in _FLOWER_PATHS:
            for client in (anyone, guesser):
                answer = client.get(path)
                assert answer.status_code == 401, (path, answer.status_code, answer.text[:200])
                assert b"# HELP" not in answer.content

    # The operator (and a Prometheus scrape with basic_auth) still reads them.
    metrics = api.get("/metrics")
    assert metrics.status_code == 200 and b"flower_" in metrics.content
    assert api.get("/healthcheck").text == "OK"
    api.close()
