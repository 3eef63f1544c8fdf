"""After `broker demo`, the commands it prints find its job; nothing lands in the current folder's DB."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_demo_prints_commands_that_find_its_job(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")} | {"PYTHONPATH": str(ROOT)}

    def broker(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "broker.cli", *args]
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)

    demo = broker("demo", "--objects", "20")
    assert demo.returncode == 0, demo.stderr[-3000:]
    printed = demo.stdout.split("look at the job again", 1)[1].splitlines()[1:]
    commands = [shlex.split(line.strip()) for line in printed if line.strip().startswith("broker ")]
    assert [c[3:5] for c in commands] == [
        ["status", "digits"],
        ["report", "workers"],
        ["report", "job"],
        ["export", "digits"],
    ]
    for command in commands:
        result = broker(*command[1:])
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    status = json.loads(broker(*commands[0][1:], "--json").stdout)[0]
    assert status["name"] == "digits" and status["status"] == "Completed" and status["objects"] == 20
    assert not (tmp_path / "broker.db").exists()  # the demo's DB is its own, in its output folder
    plain = broker("status")
    assert plain.returncode == 1 and "no broker DB at broker.db" in plain.stderr
    assert not (tmp_path / "broker.db").exists()
