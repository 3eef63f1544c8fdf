"""Painting every region of an image with its label; the label is a URI to the consolidated mask."""

from __future__ import annotations

from broker.annotations import masks
from broker.tasks.base import ConsolidationMethod, OutputLayout, TaskType
from broker.tasks.sketches import PAINT, sketch

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
)
