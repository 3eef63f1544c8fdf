"""Correcting an earlier job's boxes: workers move, resize, add or delete them.

Demo (`broker demo --task bounding-box-adjustment`): the bounding-box demo's scenes, each with an
earlier job's boxes to correct (two thirds of them shifted by a third of their width and a
quarter of their height, a box missing in every fourth scene, a spurious one in every fifth).
Quality: mean IoU as for boxes, next to the earlier boxes' (`initial_mean_iou`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from broker.annotations import boxes
from broker.tasks import bounding_box
from broker.tasks.base import (
    MAX_LABELS_MULTILABEL,
    ConsolidationMethod,
    DemoData,
    DemoOutcome,
    DemoRecipe,
    OutputLayout,
    TaskType,
)
from broker.tasks.demo_scenes import SCENE_H, SCENE_W, SHAPES


def adjustment_rules(spec: Any) -> list[tuple[str, str]]:
    """The job names the earlier job's box attribute; its own output goes to a new one."""
    if spec.adjustment is None:
        return [
            (
                "adjustment",
                "a bounding-box-adjustment job needs `adjustment: {label_attribute: ...}` "
                "(the earlier job's label attribute holding the boxes to correct)",
            )
        ]
    if spec.adjustment.label_attribute == spec.label_attribute_name:
        return [("label_attribute_name", "must differ from adjustment.label_attribute (the boxes corrected)")]
    return []


def write_adjustment(folder: Path, n: int, seed: int) -> DemoData:
    """Scenes whose manifest lines carry an earlier job's `boxes` output with known mistakes."""
    data = bounding_box.write_scenes(folder, n, seed)
    rng = np.random.default_rng([seed, 1])
    lines = []
    for path, truth in data.truth.items():
        earlier = [
            [SHAPES.index(b["label"]), b["left"], b["top"], b["width"], b["height"]] for b in truth["boundingBoxes"]
        ]
        for box in earlier:
            if rng.random() < 2 / 3:
                box[1] = int(np.clip(box[1] + rng.choice([-1, 1]) * box[3] // 3, 0, SCENE_W - box[3]))
                box[2] = int(np.clip(box[2] + rng.choice([-1, 1]) * box[4] // 4, 0, SCENE_H - box[4]))
        if len(lines) % 4 == 0 and len(earlier) > 1:
            earlier.pop()
        if len(lines) % 5 == 3:
            earlier.append([int(rng.integers(0, 3)), 5, 5, 20, 16])
        lines.append(
            {
                "source-ref": path,
                "boxes": {
                    "image_size": [{"width": SCENE_W, "height": SCENE_H, "depth": 3}],
                    "annotations": [dict(zip(("class_id", "left", "top", "width", "height"), b)) for b in earlier],
                },
                "boxes-metadata": {
                    "objects": [{"confidence": 0.5}] * len(earlier),
                    "class-map": {str(i): label for i, label in enumerate(SHAPES)},
                    "type": "groundtruth/object-detection",
                    "human-annotated": "no",
                    "job-name": "labeling-job/shapes-model",
                },
            }
        )
    data.manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    spec = data.spec | {
        "job_name": "shapes-adjusted",
        "task_type": "bounding-box-adjustment",
        "adjustment": {"label_attribute": "boxes"},
        "header": "Correct the boxes around the shapes",
        "instructions": {
            "short": "Fix every box: move, resize, relabel, delete or add boxes.",
            "full": "The boxes come from an earlier pass and some are wrong. Make "
            "each box touch its shape's outermost pixels, give it the shape's "
            "name, delete boxes over nothing and add the missing ones.",
        },
        "title": "Correct the boxes around shapes",
        "reward": "0.03",
    }
    return DemoData(spec, data.manifest, data.truth)


def adjustment_quality(outcome: DemoOutcome) -> dict[str, float]:
    """box_quality, plus the earlier boxes' mean IoU (what the adjustment started from)."""
    initial = {i: {"annotations": line["boxes"]["annotations"]} for i, line in enumerate(outcome.lines)}
    return {
        **bounding_box.box_quality(outcome),
        "initial_mean_iou": bounding_box.box_quality(replace(outcome, values=initial, answers=[]))["mean_iou"],
    }


DEMO = DemoRecipe(
    name="bounding-box-adjustment",
    objects=120,
    workers_per_object=3,
    write=write_adjustment,
    quality=adjustment_quality,
)

TASK_TYPE = TaskType(
    id="bounding-box-adjustment",
    element="crowd-bounding-box",
    source_key="source-ref",
    output_type="groundtruth/object-detection",
    default_header="Correct the boxes: move, resize, add or delete them",
    template_file="bounding-box-adjustment.liquid",
    consolidation=ConsolidationMethod.ANNOTATIONS,
    output_layout=OutputLayout.ANNOTATION,
    min_labels=1,
    max_labels=MAX_LABELS_MULTILABEL,
    annotation=boxes.ADJUSTMENT_KIND,
    block="adjustment",
    spec_rules=adjustment_rules,
    good_examples=bounding_box.GOOD_BOXES,
    bad_examples=bounding_box.BAD_BOXES,
    demo=DEMO,
)
