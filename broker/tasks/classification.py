"""Image and text classification, single- and multi-label: one EM-consolidated class choice per object."""

from __future__ import annotations

from broker.tasks.base import (
    MAX_LABELS_MULTILABEL,
    ConsolidationMethod,
    OutputLayout,
    TaskType,
)


def _classification(
    id: str, element: str, source_key: str, multilabel: bool, header: str, features: tuple[str, ...] = ()
) -> TaskType:
    return TaskType(
        id=id,
        element=element,
        source_key=source_key,
        output_type=f"groundtruth/{id}",
        default_header=header,
        template_file=f"{id}.liquid",
        consolidation=ConsolidationMethod.CLASSES,
        output_layout=OutputLayout.MULTI_LABEL if multilabel else OutputLayout.SINGLE_LABEL,
        multilabel=multilabel,
        max_labels=MAX_LABELS_MULTILABEL if multilabel else 30,
        auto_label_features=features,
    )


TASK_TYPES = (
    _classification(
        "image-classification",
        "crowd-image-classifier",
        "source-ref",
        False,
        "Choose the category that best describes the image",
        ("pixels", "embedding"),
    ),
    _classification(
        "image-classification-multilabel",
        "crowd-image-classifier-multi-select",
        "source-ref",
        True,
        "Choose every category that applies to the image",
    ),
    _classification(
        "text-classification",
        "crowd-classifier",
        "source",
        False,
        "Choose the category that best describes the text",
        ("tfidf", "embedding"),
    ),
    _classification(
        "text-classification-multilabel",
        "crowd-classifier-multi-select",
        "source",
        True,
        "Choose every category that applies to the text",
    ),
)
