"""What every task type provides: one frozen record of data and functions, no class hierarchy.

A task type is a module in broker/tasks/ that builds one (or a family of) TaskType records and
is listed once in broker/tasks/registry.py. The engine asks the record, never the task type's
name: which element answers, which manifest key the object shows, how answers are read and
consolidated, how the output line is laid out, which spec block and label counts it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from broker.annotations.base import AnnotationKind

MAX_LABELS_SINGLE = 30  # Ground Truth console's single-label limit
MAX_LABELS_MULTILABEL = 50

# the spec blocks that belong to one task type each (a job of another type may not give them)
TASK_BLOCKS = ("verification", "adjustment", "hooks")


class ConsolidationMethod(StrEnum):
    """How a job's answers become labels (the consolidate stage has one path per value)."""

    CLASSES = "classes"  # class indices per answer -> EM over workers (scoring.DawidSkene family)
    ANNOTATIONS = "annotations"  # boxes, masks or spans -> the AnnotationKind's consolidator
    VERDICTS = "verdicts"  # one verdict per object of a batch HIT (label verification)
    HOOK = "hook"  # the requester's post-annotation function, or the answers passed through


class OutputLayout(StrEnum):
    """Ground Truth's layout of `<attribute>` and `<attribute>-metadata` in the output manifest."""

    SINGLE_LABEL = "single-label"  # class index + class-name, confidence
    MULTI_LABEL = "multi-label"  # class indices + class-map, confidence-map
    ANNOTATION = "annotation"  # the consolidated value + the consolidator's metadata keys
    VERDICT = "verdict"  # like single-label, the index written as a string
    CUSTOM = "custom"  # the consolidated content as is (Lambda contract)


def no_rules(spec: Any) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class TaskType:
    """One task type: its crowd element, inputs, answers, consolidation and output."""

    id: str
    element: str | None  # the crowd element whose output is the answer (None: the template's own)
    source_key: str | None  # the manifest key shown to workers ("source-ref", "source"; None: either)
    output_type: str  # Ground Truth's metadata `type`
    default_header: str
    template_file: str | None  # in hit_templates/; None: the spec names its own template
    consolidation: ConsolidationMethod
    output_layout: OutputLayout
    multilabel: bool = False
    min_labels: int = 2
    max_labels: int | None = MAX_LABELS_SINGLE  # None: no label list (custom)
    label_attribute_suffix: str = ""  # "-ref": the label is a URI to a file (a mask)
    annotation: AnnotationKind | None = None  # reads and consolidates boxes, masks or spans
    batched: bool = False  # a HIT shows several objects (verification batches)
    block: str | None = None  # the spec block this type requires (one of TASK_BLOCKS)
    auto_label_features: tuple[str, ...] = ()  # features automated labeling may use; () = not supported
    spec_rules: Callable[[Any], list[tuple[str, str]]] = no_rules  # (field, problem) of a whole spec
    good_examples: tuple[str, ...] = ()  # HTML guidance shown when the requester gives no examples
    bad_examples: tuple[str, ...] = ()

    @property
    def has_label_list(self) -> bool:
        return self.max_labels is not None

    @property
    def chooses_labels(self) -> bool:
        """Answers name one of the job's labels (review can tell an empty answer by it)."""
        return self.consolidation in (ConsolidationMethod.CLASSES, ConsolidationMethod.VERDICTS)


def label_count_rules(task: TaskType, labels: list[str]) -> list[tuple[str, str]]:
    """The job's label list against the type's bounds."""
    if not task.has_label_list:
        return []
    least, most = task.min_labels, task.max_labels
    if len(labels) < least:
        return [("labels", f"{task.id} needs at least {least} label{'s' * (least > 1)}, got {len(labels)}")]
    if most is not None and len(labels) > most:
        return [("labels", f"{task.id} takes at most {most} labels, got {len(labels)}")]
    return []
