"""Painting every region of an image with its label; the label is a URI to the consolidated mask.

Demo (`broker demo --task semantic-segmentation`): the bounding-box demo's scenes of shapes
(broker.tasks.demo_scenes); the truth is each shape's pixels (a mask PNG in the paint tool's
colours). Quality: mean mask IoU per image over the classes present (scoring.mask_iou, background
included), of the consolidated masks and of a single worker's answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from broker.annotations import masks
from broker.tasks.base import ConsolidationMethod, DemoData, DemoOutcome, DemoRecipe, OutputLayout, TaskType
from broker.tasks.demo_scenes import SHAPES, draw_scenes
from broker.tasks.sketches import PAINT, sketch
from scoring import label_mask_from_rgb, mask_iou

DEMO_SPEC = {
    "job_name": "regions",
    "task_type": "semantic-segmentation",
    "labels": SHAPES,
    "header": "Paint every shape",
    "instructions": {
        "short": "Paint each rectangle, ellipse and triangle with its label.",
        "full": "Paint every pixel of each shape with the shape's label, right up to its "
        "edges, and leave the background unpainted.",
    },
    "title": "Paint the shapes in a picture",
    "description": "Paint each shape with its label.",
    "keywords": ["image", "segmentation", "shapes"],
    "reward": "0.05",
}


def write_masks(folder: Path, n: int, seed: int) -> DemoData:
    """n PNG scenes of 1-3 shapes each, their input manifest, and the true label mask of each."""
    manifest, truth = draw_scenes(folder, n, seed, masks=True)
    return DemoData(DEMO_SPEC, manifest, truth)


def mask_quality(outcome: DemoOutcome) -> dict[str, float]:
    """Mean mask IoU of the consolidated masks (the PNGs the job wrote), and of single workers'."""
    truth = outcome.truth
    palette = masks.job_palette(outcome.labels)

    def ids_of(path: str) -> np.ndarray:
        with Image.open(path) as image:
            return label_mask_from_rgb(np.asarray(image.convert("RGB")), palette)

    k = 1 + len(outcome.labels)
    consolidated = [mask_iou(ids_of(uri), ids_of(truth[i]["mask"]), k) for i, uri in outcome.values.items()]
    true = {i: ids_of(truth[i]["mask"]) for i, _ in outcome.answers}
    single = [mask_iou(masks.decode_ids(answer["mask"]), true[i], k) for i, answer in outcome.answers]
    return {
        "mask_iou": round(float(np.mean(consolidated)), 4) if consolidated else 0.0,
        "single_worker_mask_iou": round(float(np.mean(single)), 4) if single else 0.0,
    }


DEMO = DemoRecipe(
    name="semantic-segmentation", objects=100, workers_per_object=3, write=write_masks, quality=mask_quality
)

TASK_TYPE = TaskType(
    id="semantic-segmentation",
    element="crowd-semantic-segmentation",
    source_key="source-ref",
    output_type="groundtruth/semantic-segmentation",
    default_header="Paint every region with its label",
    template_file="semantic-segmentation.liquid",
    consolidation=ConsolidationMethod.ANNOTATIONS,
    output_layout=OutputLayout.ANNOTATION,
    min_labels=1,
    max_labels=masks.MAX_LABELS,  # the tool's colours
    label_attribute_suffix="-ref",
    annotation=masks.KIND,
    good_examples=(sketch(PAINT.format(20), "Paint the whole object, right up to its edges."),),
    bad_examples=(
        sketch(PAINT.format(28), "Paint spilling over the background."),
        sketch(PAINT.format(11), "Gaps: the edges of the object are left unpainted."),
    ),
    demo=DEMO,
)
