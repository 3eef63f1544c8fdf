"""`broker demo --objects 60 --json` in a subprocess: a real job, sensible JSON."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from broker.demo import DemoOptions, run_demo


@pytest.mark.slow
def test_demo_json_summary(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "demo", "--objects", "60", "--json", "--output", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) >= {
        "accuracy",
        "majority_vote_accuracy",
        "objects",
        "assignments",
        "cost_cents",
        "wall_seconds",
        "output_manifest",
    }
    assert summary["objects"] == 60 and summary["assignments"] == 180
    # a crowd with spammers and sloppy workers: far better than chance (10%), not perfect bookkeeping
    assert 0.5 <= summary["majority_vote_accuracy"] <= 1.0 and 0.5 <= summary["accuracy"] <= 1.0
    assert summary["cost_cents"] == 180 * 3  # 2c reward + 1c minimum fee, every assignment approved
    assert 0 < summary["wall_seconds"] < 280
    manifest = Path(summary["output_manifest"])
    assert manifest == tmp_path / "demo" / "digits" / "manifests" / "output" / "output.manifest"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 60 and all(
        line["digits-metadata"]["type"] == "groundtruth/image-classification" for line in lines
    )
    assert all(line["digits-metadata"]["class-name"] == str(line["digits"]) for line in lines)


def _run_demo(tmp_path: Path, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "demo", *args, "--json", "--output", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_demo_bounding_box_reports_mean_iou(tmp_path):
    summary = _run_demo(tmp_path, "--task", "bounding-box", "--objects", "40")
    assert summary["task"] == "bounding-box" and "accuracy" not in summary and "span_f1" not in summary
    assert summary["objects"] == 40 and summary["assignments"] == 200  # 5 workers per image by default
    assert summary["cost_cents"] == 200 * 5 and summary["failed_objects"] == 0  # 4c reward + 1c fee
    # five answers from a crowd with spammers: consolidation is far better than one worker's answer
    assert summary["mean_iou"] >= 0.7 and summary["mean_iou"] >= summary["single_worker_mean_iou"] + 0.15
    lines = [json.loads(line) for line in Path(summary["output_manifest"]).read_text().splitlines()]
    assert len(lines) == 40
    for line in lines:
        assert line["shapes-metadata"]["type"] == "groundtruth/object-detection"
        assert line["shapes"]["image_size"] == [{"width": 160, "height": 120, "depth": 3}]
        boxes = line["shapes"]["annotations"]
        assert len(boxes) == len(line["shapes-metadata"]["objects"])
        assert {str(b["class_id"]) for b in boxes} <= set(line["shapes-metadata"]["class-map"])


@pytest.mark.slow
def test_demo_named_entity_reports_span_f1(tmp_path):
    summary = _run_demo(tmp_path, "--task", "named-entity", "--objects", "30", "--workers-per-object", "5")
    assert summary["task"] == "named-entity" and "mean_iou" not in summary
    assert summary["objects"] == 30 and summary["assignments"] == 150
    assert summary["span_f1"] >= 0.75 and summary["span_f1"] >= summary["single_worker_span_f1"] + 0.15
    lines = [json.loads(line) for line in Path(summary["output_manifest"]).read_text().splitlines()]
    assert len(lines) == 30
    for line in lines:
        assert line["entities-metadata"]["type"] == "groundtruth/text-span"
        entities = line["entities"]["annotations"]["entities"]
        assert len(entities) == len(line["entities-metadata"]["entities"])
        assert all(0 <= e["startOffset"] < e["endOffset"] <= len(line["source"]) for e in entities)


def test_demo_rejects_unknown_task(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "demo", "--task", "polygon", "--output", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0 and "not a demo task" in result.stderr and not (tmp_path / "demo").exists()


@pytest.mark.slow
def test_demo_semantic_segmentation_reports_mask_iou(tmp_path):
    summary = _run_demo(tmp_path, "--task", "semantic-segmentation", "--objects", "40")
    assert summary["task"] == "semantic-segmentation" and "accuracy" not in summary
    assert summary["objects"] == 40 and summary["assignments"] == 120 and summary["failed_objects"] == 0
    # spammers who paint nothing are flagged and dropped; sloppy painters are outweighed
    assert summary["mask_iou"] >= 0.6 and summary["mask_iou"] >= summary["single_worker_mask_iou"] + 0.05
    lines = [json.loads(line) for line in Path(summary["output_manifest"]).read_text().splitlines()]
    assert len(lines) == 40
    for line in lines:
        metadata = line["regions-ref-metadata"]
        assert metadata["type"] == "groundtruth/semantic-segmentation"
        assert [entry["class-name"] for entry in metadata["internal-color-map"].values()] == [
            "BACKGROUND",
            "rectangle",
            "ellipse",
            "triangle",
        ]
        assert Path(line["regions-ref"]).is_file() and line["regions-ref"].endswith(".png")


@pytest.mark.slow
def test_demo_bounding_box_adjustment_improves_on_the_earlier_boxes(tmp_path):
    summary = _run_demo(tmp_path, "--task", "bounding-box-adjustment", "--objects", "40")
    assert summary["task"] == "bounding-box-adjustment" and summary["assignments"] == 120
    assert summary["mean_iou"] >= summary["initial_mean_iou"] + 0.08  # the crowd fixed shifted boxes
    lines = [json.loads(line) for line in Path(summary["output_manifest"]).read_text().splitlines()]
    assert len(lines) == 40
    for line in lines:
        assert line["shapes-adjusted-metadata"]["adjustment-status"] in ("adjusted", "unadjusted")
        assert line["boxes-metadata"]["job-name"] == "labeling-job/shapes-model"  # the earlier label passes through


@pytest.mark.slow
def test_demo_verification_checks_a_models_digit_labels(tmp_path):
    summary = _run_demo(tmp_path, "--task", "verification", "--objects", "100")
    assert summary["task"] == "verification" and summary["objects"] == 100 and summary["failed_objects"] == 0
    # batches of up to 25 objects sharing a label, 3 workers each: far fewer assignments than objects
    assert 3 * 4 <= summary["assignments"] <= 3 * 14  # one batch per label, plus one per 25 more
    assert 0.5 < summary["model_label_accuracy"] < 0.95  # a weak model: some labels to catch
    assert summary["verification_accuracy"] >= 0.8
    assert summary["verification_accuracy"] >= summary["single_worker_verification_accuracy"]
    lines = [json.loads(line) for line in Path(summary["output_manifest"]).read_text().splitlines()]
    assert len(lines) == 100
    for line in lines:
        assert line["digits-verify"] in ("0", "1")
        assert line["digits-verify-metadata"]["type"] == "groundtruth/label-verification"
        assert line["model-metadata"]["job-name"] == "labeling-job/digits-model"


def _assignments(db: Path) -> list[tuple]:
    """Every assignment, its times as seconds from the first accept (the start is the wall clock's)."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT assignment_id, worker_id, object_id, answer_json, review_status, accept_time, submit_time"
            " FROM assignment ORDER BY assignment_id"
        ).fetchall()
    start = min(datetime.fromisoformat(row[5]) for row in rows)
    return [(*row[:5], *((datetime.fromisoformat(t) - start).total_seconds() for t in row[5:])) for row in rows]


def _manifest(path: str) -> list[dict]:
    lines = [json.loads(line) for line in Path(path).read_text().splitlines()]
    for line in lines:  # when the run started is the wall clock's; all else must repeat
        for value in line.values():
            if isinstance(value, dict):
                value.pop("creation-date", None)
    return lines


@pytest.mark.slow
def test_the_demo_repeats_exactly_for_a_seed(tmp_path):
    """Same seed and folder, same run: who took which HIT, what they answered and when, whatever the load.

    (The objects' paths are part of their identity, so the run is repeated in the same folder.)
    """
    runs = []
    for seed in (5, 5, 6):
        summary = run_demo(DemoOptions(output=tmp_path / "demo", objects=60, seed=seed, show_progress=False))
        data = summary.as_dict()
        data.pop("wall_seconds")
        runs.append((data, _manifest(summary.output_manifest), _assignments(tmp_path / "demo" / "demo-broker.db")))
    (first, first_lines, first_rows), (second, second_lines, second_rows), (_, _, other_rows) = runs
    assert first == second and first_lines == second_lines
    assert len(first_rows) == 180 and first_rows == second_rows
    assert [row[1:4] for row in other_rows] != [row[1:4] for row in first_rows]  # another seed, another crowd


def test_demo_gives_the_crowd_work_histories(tmp_path):
    """--worker-history reaches the embedded marketplace: the workers who worked have histories drawn from it."""
    options = dict(output=tmp_path / "demo", objects=12, seed=3, show_progress=False)
    summary = run_demo(DemoOptions(**options, worker_history="approved=1000:0.5,approval=95-100"))
    histories = summary.worker_histories
    assert histories is not None and histories["workers"] >= 3
    low, high = histories["approved"]
    assert 1000 * np.exp(-0.5 * 5) <= low <= histories["approved_median"] <= high <= 1000 * np.exp(0.5 * 5)
    assert 95.0 <= histories["approval_percent"][0] <= histories["approval_percent"][1] <= 100.0
    assert summary.as_dict()["worker_histories"] == histories and summary.objects == 12
    plain = run_demo(DemoOptions(**options))  # off by default, as on MTurk: new accounts have no history
    assert plain.worker_histories is None and "worker_histories" not in plain.as_dict()


def test_demo_rejects_a_bad_worker_history_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "demo", "--worker-history", "approved=lots", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--worker-history" in result.stderr and "'lots' is not a number" in result.stderr
    assert not (tmp_path / "digits.manifest").exists()
