"""A custom task: the requester's own Liquid template, with optional pre- and post-annotation hooks."""

from __future__ import annotations

from typing import Any

from broker.tasks.base import ConsolidationMethod, OutputLayout, TaskType


def custom_rules(spec: Any) -> list[tuple[str, str]]:
    return [] if spec.template else [("template", "a custom task needs `template:` (a Liquid file)")]


TASK_TYPE = TaskType(
    id="custom",
    element=None,
    source_key=None,
    output_type="groundTruth/custom",
    default_header="",
    template_file=None,
    consolidation=ConsolidationMethod.HOOK,
    output_layout=OutputLayout.CUSTOM,
    max_labels=None,
    block="hooks",
    spec_rules=custom_rules,
)
