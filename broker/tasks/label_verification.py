"""Label verification: workers uncheck the items of a batch whose shown label is wrong."""

from __future__ import annotations

from typing import Any

from broker.tasks.base import ConsolidationMethod, OutputLayout, TaskType
from broker.verify.config import DEFAULT_VERDICT_LABELS


def verification_rules(spec: Any) -> list[tuple[str, str]]:
    """The job names the attribute to verify; its labels are the two verdicts (defaulted here)."""
    if spec.verification is None:
        return [("verification", "a label-verification job needs `verification: {label_attribute: ...}`")]
    if not spec.labels and spec.label_category_config is None:
        spec.labels = list(DEFAULT_VERDICT_LABELS)
    if spec.labels and len(spec.labels) != 2:
        return [("labels", f"label-verification takes two verdict labels (fits, does not fit), got {len(spec.labels)}")]
    if spec.verification.label_attribute == spec.label_attribute_name:
        return [("label_attribute_name", "must differ from verification.label_attribute (the label verified)")]
    unsupported = [name for name in ("gold", "exclusion") if getattr(spec.quality, name, None) is not None]
    return [
        (f"quality.{name}", "not available for label-verification jobs (a HIT is a batch of objects)")
        for name in unsupported
    ]


TASK_TYPE = TaskType(
    id="label-verification",
    element="crowd-label-verification",
    source_key=None,  # images or texts
    output_type="groundtruth/label-verification",
    default_header="Uncheck every item the label does not fit",
    template_file="label-verification.liquid",
    consolidation=ConsolidationMethod.VERDICTS,
    output_layout=OutputLayout.VERDICT,
    batched=True,
    block="verification",
    spec_rules=verification_rules,
    good_examples=(
        "<p>Uncheck an item when the label is wrong for it, e.g. a photo of a cat labelled <b>dog</b>.</p>",
    ),
    bad_examples=("<p>Unchecking a correctly labelled item only because the photo is dark or blurry.</p>",),
)
