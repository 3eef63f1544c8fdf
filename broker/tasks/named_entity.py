"""Named entities: labeled character spans of a text (Ground Truth's text-span output)."""

from __future__ import annotations

from broker.annotations import spans
from broker.tasks.base import (
    MAX_LABELS_MULTILABEL,
    ConsolidationMethod,
    OutputLayout,
    TaskType,
)

TASK_TYPE = TaskType(
    id="named-entity-recognition",
    element="crowd-entity-annotation",
    source_key="source",
    output_type="groundtruth/text-span",
    default_header="Highlight each entity in the text and give it a label",
    template_file="named-entity-recognition.liquid",
    consolidation=ConsolidationMethod.ANNOTATIONS,
    output_layout=OutputLayout.ANNOTATION,
    min_labels=1,
    max_labels=MAX_LABELS_MULTILABEL,
    annotation=spans.KIND,
    good_examples=(
        "<p><mark>Ada Lovelace</mark> met Charles Babbage in <mark>London</mark>.</p>"
        "<p>Select the whole name, without the spaces or punctuation around it.</p>",
    ),
    bad_examples=(
        "<p>Ada <mark>Lovelace met</mark> Charles Babbage.</p><p>Part of the name, plus a word that is not.</p>",
    ),
)
