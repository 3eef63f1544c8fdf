"""Correcting an earlier job's boxes: workers move, resize, add or delete them."""

from __future__ import annotations

from typing import Any

from broker.annotations import boxes
from broker.tasks import bounding_box
from broker.tasks.base import (
    MAX_LABELS_MULTILABEL,
    ConsolidationMethod,
    OutputLayout,
    TaskType,
)


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
)
