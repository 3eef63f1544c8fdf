"""Consolidation as pure functions: a job's answers in, one label and confidence per object out.

The consolidate stage, verification (broker.verify), `broker demo` and the reports all use these
without touching the DB or importing a stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import scoring


@dataclass(frozen=True)
class AnswerArrays:
    """A job's usable answers as integer codes (one row per answer)."""

    items: np.ndarray  # object index (datasetObjectId)
    workers: np.ndarray  # worker code
    chosen: list[list[int]]  # class indices per answer
    worker_ids: list[str]  # code -> WorkerId


@dataclass(frozen=True)
class Consolidated:
    """Per object index: label (int, list[int], or a box/span task's Ground Truth value) and
    confidence (float, {class: float}, or that task's metadata keys such as `objects`)."""

    labels: dict[int, Any]
    confidences: dict[int, Any]
    worker_accuracy: dict[str, float]
    failure_reasons: dict[int, str] = field(default_factory=dict)  # objects that fail with their own reason


def answer_arrays(rows: list[tuple[int, str, str]]) -> AnswerArrays:
    """(object index, WorkerId, chosen JSON) rows -> integer arrays."""
    worker_codes: dict[str, int] = {}
    items = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    workers = np.fromiter(
        (worker_codes.setdefault(row[1], len(worker_codes)) for row in rows), dtype=np.int64, count=len(rows)
    )
    chosen = [json.loads(row[2]) for row in rows]
    return AnswerArrays(items, workers, chosen, list(worker_codes))


def consolidate_answers(
    arrays: AnswerArrays,
    n_items: int,
    n_classes: int,
    *,
    multilabel: bool,
    workers_per_object: int,
    method: str = "default",
) -> Consolidated:
    """Fit scoring's estimator (or MultiLabel) over all answers; only answered items are returned."""
    answered = np.unique(arrays.items)
    n_workers = len(arrays.worker_ids)
    if multilabel:
        matrix = np.zeros((len(arrays.chosen), n_classes), dtype=bool)
        rows = np.repeat(np.arange(len(arrays.chosen)), [len(c) for c in arrays.chosen])
        cols = np.fromiter((c for chosen in arrays.chosen for c in chosen), dtype=np.int64, count=rows.size)
        matrix[rows, cols] = True
        model = scoring.MultiLabel().fit(
            arrays.items, arrays.workers, matrix, n_classes=n_classes, n_items=n_items, n_workers=n_workers
        )
        labels = {int(i): [int(c) for c in model.labels_[i]] for i in answered}
        confidences = {int(i): {int(c): float(v) for c, v in model.confidence_map_[i].items()} for i in answered}
        accuracy = getattr(model, "worker_accuracy_", None)
    else:
        single = np.fromiter((c[0] for c in arrays.chosen), dtype=np.int64, count=len(arrays.chosen))
        model = scoring.estimator(method)
        model.fit(arrays.items, arrays.workers, single, n_classes=n_classes, n_items=n_items, n_workers=n_workers)
        labels = {int(i): int(model.labels_[i]) for i in answered}
        confidences = {int(i): float(model.confidence_[i]) for i in answered}
        accuracy = model.worker_accuracy_
    if workers_per_object == 1:  # Ground Truth: confidence is 0.00 with one worker per object
        confidences = {i: ({c: 0.0 for c in v} if isinstance(v, dict) else 0.0) for i, v in confidences.items()}
    worker_accuracy = (
        {arrays.worker_ids[w]: float(accuracy[w]) for w in range(n_workers)} if accuracy is not None else {}
    )
    return Consolidated(labels, confidences, worker_accuracy)


def majority_labels(rows: list[tuple[int, str, str]], n_items: int, n_classes: int) -> np.ndarray:
    """Majority vote over single-label answers (for comparisons such as `broker demo`)."""
    arrays = answer_arrays(rows)
    single = np.fromiter((c[0] for c in arrays.chosen), dtype=np.int64, count=len(arrays.chosen))
    model = scoring.estimator("majority")
    model.fit(
        arrays.items, arrays.workers, single, n_classes=n_classes, n_items=n_items, n_workers=len(arrays.worker_ids)
    )
    return model.labels_


__all__ = ["AnswerArrays", "Consolidated", "answer_arrays", "consolidate_answers", "majority_labels"]
