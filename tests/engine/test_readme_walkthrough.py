"""The README's "Running a job" block, run command by command as a new user would, in subprocesses.

The fixture serves the marketplace on a free port (the block's own `broker marketplace serve &`
would take 8765, which a parallel test run may hold) and points the broker there with
BROKER_LOCAL_ENDPOINT_URL; test_requester_checks checks that the defaults agree without it. Tick
intervals are one second, so `broker run` ends as soon as the simulated crowd is done.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEFAULT_PORT = 8765
TIMEOUT = 240


def running_a_job_block() -> list[str]:
    """The command lines of the bash block under "## Running a job", comments dropped."""
    section = README.split("## Running a job", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    lines = [line.split(" #", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    env |= {
        "PYTHONPATH": str(ROOT),
        "BROKER_LOCAL_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "COLUMNS": "200",
    }
    env |= {f"BROKER_TICKS__{tick.upper()}_SECONDS": "1" for tick in ("publish", "collect", "review", "consolidate")}
    env |= {f"BROKER_TICKS__{tick.upper()}_SECONDS": "1" for tick in ("quality", "output", "finalize")}
    return env


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """A fresh folder holding a copy of config/ (the block's paths are relative to the checkout)."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def serve_line() -> str:
    """The block's `broker marketplace serve ... &` line, without the `&`."""
    return (
        next(line for line in running_a_job_block() if line.startswith("broker marketplace serve")).rstrip("&").strip()
    )


@pytest.fixture()
def marketplace(workspace: Path):
    """The block's own serve line (its options included) on a free port."""
    port = _free_port()
    server = subprocess.Popen(
        [*_argv(serve_line(), port), "--port", str(port), "--db", "market.sqlite3"],
        cwd=workspace,
        env=_env(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, "broker marketplace serve exited"
            time.sleep(0.2)
    try:
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _argv(line: str, port: int) -> list[str]:
    words = line.replace(f"127.0.0.1:{DEFAULT_PORT}", f"127.0.0.1:{port}").split()
    assert words[0] == "broker", line
    return [sys.executable, "-m", "broker.cli", *words[1:]]


def _concrete(line: str, job: str) -> str | None:
    """The line with JOB filled in and optional [...] parts left out; None for a family of commands."""
    if "..." in line or "|" in line.split("[", 1)[0]:
        return None
    line = re.sub(r"\[JOB\]", job, line)
    line = re.sub(r"\s*\[[^\]]*\]", "", line)
    return re.sub(r"\bJOB\b", job, line).rstrip("&").strip()


def test_the_readme_running_a_job_block_works_as_written(workspace: Path, marketplace: int):
    port = marketplace
    env = _env(port)
    lines = running_a_job_block()
    assert any(line.startswith("broker marketplace serve") and line.endswith("&") for line in lines)
    assert any(line.startswith("broker marketplace crowd") for line in lines)
    job = "shape-colour"  # the example's job_name
    outputs: dict[str, subprocess.CompletedProcess] = {}
    background: list[subprocess.Popen] = []

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=workspace, env=env, capture_output=True, text=True, timeout=TIMEOUT)

    try:
        for raw in lines:
            line = _concrete(raw, job)
            if line is None or line.startswith("broker marketplace serve"):  # the fixture serves it
                continue
            if line.startswith("broker cancel"):  # cancel a second job; the first is done by now
                spec = workspace / "config" / "examples" / "image-classification.yaml"
                second = spec.with_name("second.yaml")
                second.write_text(spec.read_text().replace(f"job_name: {job} ", "job_name: second-job "))
                other = run(_argv(f"broker submit {second.relative_to(workspace)}", port))
                assert other.returncode == 0, other.stderr
                line = line.replace(job, "second-job")
            if raw.endswith("&"):
                background.append(
                    subprocess.Popen(
                        _argv(line, port), cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                    )
                )
                continue
            result = run(_argv(line, port))
            assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
            assert "Traceback" not in result.stderr, line
            outputs[line.split()[1]] = result
    finally:
        for process in background:
            process.terminate()
            process.wait(timeout=30)

    assert outputs["validate"].stdout.startswith("OK: shape-colour: 4 objects")
    assert "submitted job shape-colour: 4 objects" in outputs["submit"].stdout
    assert "all jobs done" in outputs["run"].stdout
    assert "broker-run.log" in outputs["run"].stdout and (workspace / "broker-run.log").is_file()
    assert "Completed" in outputs["status"].stdout and "output manifest" in outputs["status"].stdout
    status = json.loads(run(_argv(f"broker status {job} --json", port)).stdout)[0]
    assert status["status"] == "Completed" and status["consolidated"] == 4 and status["attention"] == []
    assert status["spent_cents"] == 12 * 6  # 12 assignments of $0.05 + $0.01 fee
    manifest = [json.loads(line) for line in outputs["export"].stdout.splitlines()]
    assert [line["id"] for line in manifest] == ["img-001", "img-002", "img-003", "img-004"]
    assert all("colour" in line for line in manifest)
    assert "cancelled" in outputs["cancel"].stdout
