"""`broker demo --objects 60 --json` in a subprocess: a real job, sensible JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_json_summary(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "demo", "--objects", "60", "--json", "--output", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=280, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) >= {"accuracy", "majority_vote_accuracy", "objects", "assignments", "cost_cents",
                            "wall_seconds", "output_manifest"}
    assert summary["objects"] == 60 and summary["assignments"] == 180
    # a crowd with spammers and sloppy workers: far better than chance (10%), not perfect bookkeeping
    assert 0.5 <= summary["majority_vote_accuracy"] <= 1.0 and 0.5 <= summary["accuracy"] <= 1.0
    assert summary["cost_cents"] == 180 * 3             # 2c reward + 1c minimum fee, every assignment approved
    assert 0 < summary["wall_seconds"] < 280
    manifest = Path(summary["output_manifest"])
    assert manifest == tmp_path / "demo" / "digits" / "manifests" / "output" / "output.manifest"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 60 and all(line["digits-metadata"]["type"] == "groundtruth/image-classification"
                                    for line in lines)
    assert all(line["digits-metadata"]["class-name"] == str(line["digits"]) for line in lines)
