"""Bounding boxes around objects in an image (Ground Truth's object detection)."""

from __future__ import annotations

from broker.annotations import boxes
from broker.tasks.base import (
    MAX_LABELS_MULTILABEL,
    ConsolidationMethod,
    OutputLayout,
    TaskType,
)

TASK_TYPE = TaskType(
    id="bounding-box", element="crowd-bounding-box", source_key="source-ref",
    output_type="groundtruth/object-detection", default_header="Draw a box around each object",
    template_file="bounding-box.liquid", consolidation=ConsolidationMethod.ANNOTATIONS,
    output_layout=OutputLayout.ANNOTATION, min_labels=1, max_labels=MAX_LABELS_MULTILABEL, annotation=boxes.KIND)
