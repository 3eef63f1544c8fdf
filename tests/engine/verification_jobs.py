"""A label-verification job over another job's output manifest, with known truth per object."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import yaml

COLORS = {"cat": (220, 30, 30), "dog": (30, 30, 220)}


@dataclass
class VerificationFiles:
    spec_path: Path
    manifest_path: Path
    output_dir: Path
    lines: list[dict[str, Any]]
    fits: list[bool]  # per object: does the label shown (the model's) fit?
    truth: dict[str, Any]  # source-ref -> {"correct": bool}, for the simulated crowd


def model_output_line(path: Path, index: int, label: str, confidence: float) -> dict[str, Any]:
    """A line of an earlier classification job's output manifest (attribute "category")."""
    return {
        "source-ref": str(path),
        "category": list(COLORS).index(label),
        "category-metadata": {
            "class-name": label,
            "confidence": confidence,
            "type": "groundtruth/image-classification",
            "job-name": "labeling-job/model",
            "human-annotated": "no",
            "creation-date": "2026-11-01T10:00:00.000000",
        },
    }


def write_verification_job(
    folder: Path, counts: dict[str, int], *, batch_size: int = 10, name: str = "verify-job", **overrides: Any
) -> VerificationFiles:
    """Objects labeled cat/dog (interleaved) with confidences 0.80-0.99; every 4th label is wrong."""
    from PIL import Image

    (folder / "images").mkdir(parents=True, exist_ok=True)
    columns = [[label] * counts.get(label, 0) for label in COLORS]
    order = [label for row in zip_longest(*columns) for label in row if label]  # cat, dog, cat, dog, ..., cat
    lines, fits, truth = [], [], {}
    for index, label in enumerate(order):
        path = folder / "images" / f"obj-{index}.png"
        Image.new("RGB", (8, 8), COLORS[label]).save(path)
        lines.append(model_output_line(path, index, label, round(0.80 + (index % 20) / 100, 2)))
        fits.append(index % 4 != 0)
        truth[str(path)] = {"correct": fits[-1]}
    manifest = folder / "model-output.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    spec: dict[str, Any] = {
        "job_name": name,
        "task_type": "label-verification",
        "label_attribute_name": "verify-category",
        "verification": {"label_attribute": "category", "batch_size": batch_size},
        "input_manifest": str(manifest),
        "output": str(folder / "output"),
        "workers_per_object": 3,
        "reward": "0.10",
        "title": "Check the labels",
        "description": "Uncheck every image the label does not fit.",
        "lifetime_seconds": 3600,
        "assignment_duration_seconds": 600,
        "auto_approval_delay_seconds": 86400,
        "max_concurrent_hits": 100,
    }
    spec.update(overrides)
    spec_path = folder / f"{name}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return VerificationFiles(spec_path, manifest, folder / "output", lines, fits, truth)


def answer_batches(running: Any, workers: list[str], verdict: Callable[[str, dict], bool]) -> int:
    """Each worker accepts and submits every open verification HIT once, as crowd-label-verification
    posts it; verdict(worker, item) says whether the worker leaves the item checked."""
    from tests.engine.conftest import hit_data_object, task_answers_xml

    marketplace = running.marketplace
    submitted = 0
    for worker in workers:
        if worker not in marketplace.workers:
            marketplace.register_worker(worker)
        for group in marketplace.list_hit_groups(worker):
            while (hit_id := marketplace.next_hit_for_worker(group.hit_type_id, worker)) is not None:
                block = hit_data_object(marketplace, hit_id)
                assignment_id = marketplace.accept_hit(hit_id, worker)
                items = [{"id": item["id"], "correct": verdict(worker, item)} for item in block["dataObjects"]]
                answer = {"label": block["taskInput"]["label"], "items": items}
                marketplace.submit_assignment(
                    assignment_id, worker, task_answers_xml([{"crowd-label-verification": answer}])
                )
                submitted += 1
    return submitted
