"""Video classification: workers watch a clip and choose the one label that fits it.

Ground Truth's VideoClassification task: a crowd-classifier around a <video> player; the clip
is the manifest line's `source-ref` (S3 or a local file the worker site serves), in a format
the workers' browsers play (MP4/H.264 is the safe choice). Consolidated like image
classification: EM over the workers' choices.
"""

from __future__ import annotations

from broker.tasks.base import MAX_LABELS_SINGLE, ConsolidationMethod, OutputLayout, TaskType

TASK_TYPE = TaskType(
    id="video-classification",
    element="crowd-classifier",
    source_key="source-ref",
    output_type="groundtruth/video-classification",
    default_header="Choose the category that best describes the video",
    template_file="video-classification.liquid",
    consolidation=ConsolidationMethod.CLASSES,
    output_layout=OutputLayout.SINGLE_LABEL,
    max_labels=MAX_LABELS_SINGLE,
)
