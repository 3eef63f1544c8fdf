"""Bounding boxes around objects in an image (Ground Truth's object detection)."""

from __future__ import annotations

from broker.annotations import boxes
from broker.tasks.base import (
    MAX_LABELS_MULTILABEL,
    ConsolidationMethod,
    OutputLayout,
    TaskType,
)
from broker.tasks.sketches import BOX, sketch

GOOD_BOXES = (sketch(BOX.format(40, 18, 40, 40), "Tight: the box touches the object on all four sides."),)
BAD_BOXES = (
    sketch(BOX.format(25, 8, 75, 58), "Too loose: background inside the box."),
    sketch(BOX.format(48, 26, 24, 24), "Too small: parts of the object are cut off."),
)

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
)
