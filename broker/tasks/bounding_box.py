"""Bounding boxes around objects in an image (Ground Truth's object detection).

Demo (`broker demo --task bounding-box`): scenes of filled shapes (broker.tasks.demo_scenes); the
truth is each shape's bounding rectangle. Quality: mean matched IoU per image
(scoring.matched_iou: Hungarian-matched same-class boxes, misses and extras count 0), of the
consolidated boxes and of a single worker's answer (the mean over every usable answer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from broker.annotations import boxes
from broker.tasks.base import (
    MAX_LABELS_MULTILABEL,
    ConsolidationMethod,
    DemoData,
    DemoOutcome,
    DemoRecipe,
    OutputLayout,
    TaskType,
)
from broker.tasks.demo_scenes import SHAPES, draw_scenes
from broker.tasks.sketches import BOX, sketch
from scoring import matched_iou

GOOD_BOXES = (sketch(BOX.format(40, 18, 40, 40), "Tight: the box touches the object on all four sides."),)
BAD_BOXES = (
    sketch(BOX.format(25, 8, 75, 58), "Too loose: background inside the box."),
    sketch(BOX.format(48, 26, 24, 24), "Too small: parts of the object are cut off."),
)

DEMO_SPEC = {
    "job_name": "shapes",
    "task_type": "bounding-box",
    "labels": SHAPES,
    "header": "Draw a box around every shape",
    "instructions": {
        "short": "Box every rectangle, ellipse and triangle; pick its label.",
        "full": "Draw one tight box around each shape in the picture, touching its outermost "
        "pixels, and give it the shape's name. Leave the background alone.",
    },
    "title": "Box the shapes in a picture",
    "description": "Draw a tight box around each shape and label it.",
    "keywords": ["image", "bounding box", "shapes"],
    "reward": "0.04",
}


def write_scenes(folder: Path, n: int, seed: int) -> DemoData:
    """n PNG scenes of 1-3 shapes each, their input manifest, and the true boxes."""
    manifest, truth = draw_scenes(folder, n, seed)
    return DemoData(DEMO_SPEC, manifest, truth)


def box_quality(outcome: DemoOutcome) -> dict[str, float]:
    """Mean matched IoU of the consolidated boxes, and of single workers' answers, against the truth."""
    truth = outcome.truth
    index = {label: i for i, label in enumerate(outcome.labels)}

    def true_of(i: int) -> tuple[np.ndarray, np.ndarray]:
        shapes = truth[i]["boundingBoxes"]
        return (
            np.array([[b["left"], b["top"], b["width"], b["height"]] for b in shapes], dtype=float).reshape(-1, 4),
            np.array([index[b["label"]] for b in shapes], dtype=np.int64),
        )

    consolidated = [
        matched_iou(
            [[a["left"], a["top"], a["width"], a["height"]] for a in value["annotations"]],
            [a["class_id"] for a in value["annotations"]],
            *true_of(i),
        )
        for i, value in outcome.values.items()
    ]
    single = [
        matched_iou([b[1:] for b in answer["boxes"]], [int(b[0]) for b in answer["boxes"]], *true_of(i))
        for i, answer in outcome.answers
    ]
    return {
        "mean_iou": round(float(np.mean(consolidated)), 4) if consolidated else 0.0,
        "single_worker_mean_iou": round(float(np.mean(single)), 4) if single else 0.0,
    }


# Ground Truth's console suggests 5 workers per object for boxes (3 otherwise)
DEMO = DemoRecipe(name="bounding-box", objects=120, workers_per_object=5, write=write_scenes, quality=box_quality)

TASK_TYPE = TaskType(
    id="bounding-box",
    element="crowd-bounding-box",
    source_key="source-ref",
    output_type="groundtruth/object-detection",
    default_header="Draw a box around each object",
    template_file="bounding-box.liquid",
    consolidation=ConsolidationMethod.ANNOTATIONS,
    output_layout=OutputLayout.ANNOTATION,
    min_labels=1,
    max_labels=MAX_LABELS_MULTILABEL,
    annotation=boxes.KIND,
    good_examples=GOOD_BOXES,
    bad_examples=BAD_BOXES,
    demo=DEMO,
)
