"""Chaos: three `broker run` daemons on one PostgreSQL DB, the marketplace throttling a fifth of the
requester calls, a simulated crowd, and a random daemon killed with SIGKILL and replaced five times.

Audited from outside the broker: the marketplace's requester API (boto3) and the output files.
One HIT per object, every submitted answer in the output, each assignment paid once (the account's
balance moved by exactly the approved work), the budget held, every object labeled.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config

from tests.engine.conftest import write_job

ROOT = Path(__file__).resolve().parents[2]
OBJECTS, WORKERS_PER_OBJECT = 60, 3
COST_CENTS = 6  # 5c reward + MTurk's 1c minimum fee, per assignment
KILLS = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _broker(*args: str, log: Path) -> subprocess.Popen:
    """A `broker` child process in the log's folder (where `broker run` writes broker-run.log)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "broker.cli", *args], env=env, stdout=out, stderr=out, cwd=log.parent
        )


def _wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port}")


def _wait_until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(1)


def _requester(endpoint: str):
    """The auditor's own client: plain boto3, standard retries (the marketplace throttles it too)."""
    return boto3.client(
        "mturk",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIALOCALMARKETPLACE",
        aws_secret_access_key="local-marketplace-secret",
        config=Config(retries={"mode": "standard", "max_attempts": 20}),
    )


def _all(client, operation: str, key: str, **params) -> list[dict]:
    return [item for page in client.get_paginator(operation).paginate(**params) for item in page[key]]


def _status(settings_path: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shown = subprocess.run(
        [sys.executable, "-m", "broker.cli", "--settings", str(settings_path), "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(shown.stdout) if shown.returncode == 0 and shown.stdout.strip() else []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_three_daemons_killed_and_replaced_lose_nothing_and_pay_once(tmp_path: Path, fresh_postgres_db: str) -> None:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    market = _broker(
        "marketplace", "serve", "--port", str(port), "--db", str(tmp_path / "market.sqlite3"),
        "--files-root", str(tmp_path), "--throttle-probability", "0.2", "--fault-seed", "7",
        log=logs / "market.log",
    )  # fmt: skip
    children: list[subprocess.Popen] = [market]
    try:
        _wait_for_port(port)
        budget = OBJECTS * WORKERS_PER_OBJECT * COST_CENTS + 3
        files = write_job(tmp_path / "job", "text-classification", OBJECTS, budget_cents=budget)
        settings = tmp_path / "settings.yaml"
        settings.write_text(
            yaml.safe_dump(
                {
                    "db_url": fresh_postgres_db,
                    "local_endpoint_url": endpoint,
                    "local_calls_per_second": 40,  # the daemons share one bucket through the DB
                    "ticks": {f"{name}_seconds": 1 for name in ("publish", "collect", "review", "consolidate")}
                    | {f"{name}_seconds": 1 for name in ("quality", "autolabel", "output", "finalize")},
                }
            )
        )
        truth = tmp_path / "truth.jsonl"
        truth.write_text("".join(json.dumps({"source": k, "label": v}) + "\n" for k, v in files.truth.items()))
        auditor = _requester(endpoint)
        balance_before = float(auditor.get_account_balance()["AvailableBalance"])
        submitted = subprocess.run(
            [sys.executable, "-m", "broker.cli", "--settings", str(settings), "submit", str(files.spec_path)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert submitted.returncode == 0, submitted.stderr

        def daemon(n: int) -> subprocess.Popen:
            child = _broker("--settings", str(settings), "run", log=logs / f"daemon-{n}.log")
            children.append(child)
            return child

        running = [daemon(n) for n in range(3)]
        chaos = random.Random(11)
        for kill in range(KILLS):
            time.sleep(chaos.uniform(2.0, 5.0))
            victim = chaos.randrange(len(running))
            running[victim].send_signal(signal.SIGKILL)
            running[victim].wait(30)
            running[victim] = daemon(3 + kill)
            if kill == 1:  # two kills while publishing; the crowd comes once every HIT is up
                _wait_until(lambda: len(_all(auditor, "list_hits", "HITs")) >= OBJECTS, 300)
                crowd = _broker(
                    "marketplace", "crowd", "--endpoint", endpoint, "--workers", "30", "--seed", "3",
                    "--model", "good", "--truth", str(truth), "--time-scale", "200", "--idle-seconds", "600",
                    "--concurrency", "4", log=logs / "crowd.log",
                )  # fmt: skip
                children.append(crowd)

        deadline = time.monotonic() + 420
        while time.monotonic() < deadline and any(child.poll() is None for child in running):
            time.sleep(1)
        jobs = _status(settings)
        assert [job["status"] for job in jobs] == ["Completed"], (jobs, (logs / "daemon-0.log").read_text()[-3000:])

        # the marketplace's view: one HIT per object, three answers each, all approved and paid once
        hits = _all(auditor, "list_hits", "HITs")
        objects = [h["RequesterAnnotation"].split("object=")[1].split()[0] for h in hits]
        assert sorted(objects, key=int) == [str(i) for i in range(OBJECTS)]  # no object has two HITs
        answers: dict[str, set[str]] = {}
        for hit, index in zip(hits, objects):
            assignments = _all(auditor, "list_assignments_for_hit", "Assignments", HITId=hit["HITId"])
            assert {a["AssignmentStatus"] for a in assignments} == {"Approved"}
            answers[index] = {a["WorkerId"] for a in assignments}
        assert sum(len(w) for w in answers.values()) == OBJECTS * WORKERS_PER_OBJECT
        spent_cents = round((balance_before - float(auditor.get_account_balance()["AvailableBalance"])) * 100)
        assert spent_cents == OBJECTS * WORKERS_PER_OBJECT * COST_CENTS  # no approval or bonus paid twice
        assert spent_cents <= budget

        # the output files: every object labeled, every answer the marketplace took is there
        job_dir = files.output_dir / "test-job"
        manifest = (job_dir / "manifests" / "output" / "output.manifest").read_text().splitlines()
        assert len(manifest) == OBJECTS
        assert all("test-job" in json.loads(line) for line in manifest)
        written: dict[str, set[str]] = {}
        for path in (job_dir / "annotations" / "worker-response").rglob("*.json"):
            index = path.parent.name
            written.setdefault(index, set()).update(a["workerId"] for a in json.loads(path.read_text())["answers"])
        assert written == answers
        killed = sum(1 for child in children if child.returncode == -signal.SIGKILL)
        assert killed == KILLS
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait(30)
