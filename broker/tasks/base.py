"""What every task type provides: one frozen record of data and functions, no class hierarchy.

A task type is a module in broker/tasks/ that builds one (or a family of) TaskType records and
is listed once in broker/tasks/registry.py. The engine asks the record, never the task type's
name: which element answers, which manifest key the object shows, how answers are read and
consolidated, how the output line is laid out, which spec block and label counts it takes, and
(optionally) its `broker demo --task` recipe: generated objects with known truth and a quality figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

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
class DemoData:
    """A demo's generated objects: what its recipe's `write` returns."""

    spec: dict[str, Any]  # the task-specific part of the job spec
    manifest: Path
    truth: dict[str, Any]  # source-ref / source -> the simulated crowd's truth record


@dataclass(frozen=True)
class DemoOutcome:
    """What a finished demo job gave, as plain data: what its recipe's `quality` is computed from."""

    values: dict[int, Any]  # object index -> consolidated value (consolidated objects only)
    answers: list[tuple[int, Any]]  # (object index, answer) for every usable answer: single workers' figure
    truth: list[dict[str, Any]]  # per object, in index order: the truth record `write` gave
    labels: list[str]  # the job's labels
    lines: list[dict[str, Any]]  # per object, in index order: its input manifest line
    verdict_objects: np.ndarray | None = None  # verification: the object index of each usable verdict
    verdicts: np.ndarray | None = None  # ... and the verdict (0: the label fits); None for other types


@dataclass(frozen=True)
class DemoRecipe:
    """`broker demo --task <name>`: generated objects with known truth, and the quality figures of
    the job's consolidated labels (and of single workers' answers) against that truth."""

    name: str  # the `broker demo --task` name
    objects: int  # default number of objects
    workers_per_object: int  # default answers per object
    write: Callable[[Path, int, int], DemoData]  # (folder, n, seed): objects, manifest, truth, spec
    quality: Callable[[DemoOutcome], dict[str, float]]  # figure name -> value (the demo's summary fields)


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
    demo: DemoRecipe | None = None  # `broker demo --task`: generated data with known truth, a quality figure

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
