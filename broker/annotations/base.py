"""Structured answers in the engine: bounding boxes, segmentation masks and entity spans.

Classification answers are class indices; these task types answer with shapes. Each kind here
does the three things the engine needs, so collect, consolidate and output dispatch on the task
type instead of growing branches:

* ``read(data, labels, data_object)``: a worker's decoded answer -> the compact JSON stored as
  ``Assignment.chosen_json``, or ``AnswerError`` with the reason (the answer is kept and flagged
  in ``answer_error``, and left out of consolidation).
* ``consolidate(rows, spec, n_objects)``: every usable answer of the job (and, for a kind with
  ``uses_data_objects``, the manifest lines: an adjustment's initial boxes) -> per object Ground
  Truth's label value and its type-specific metadata, plus a reliability per worker (scoring/).
  The confidences (and, for adjustment, `adjustment-status`) come back as the metadata keys Ground
  Truth writes for the type, so broker.output only adds the keys every type shares.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from broker.domain.answers import AnswerError


@dataclass(frozen=True)
class Consolidation:
    """Per object index: Ground Truth's label value and the metadata keys specific to the type
    (e.g. `objects` with one confidence per box, `class-map`)."""

    values: dict[int, Any]
    metadata: dict[int, dict[str, Any]]
    worker_accuracy: dict[str, float]
    files: dict[int, bytes] = field(default_factory=dict)  # object index -> bytes to store at its value (a URI)


@dataclass(frozen=True)
class AnnotationKind:
    element: str
    read: Callable[[Any, list[str], Mapping[str, Any]], dict[str, Any]]
    consolidate: Callable[..., Consolidation]  # (rows, spec, n_objects[, data_objects=...])
    uses_data_objects: bool = False  # consolidate also takes {index: manifest line} (adjustment)


def element_value(data: Any, element: str, key: str) -> dict[str, Any]:
    """The element's answer in a decoded taskAnswers list: under its name, else the one object
    holding `key` (a custom template may name the element differently)."""
    if isinstance(data, Mapping) and "fields" in data:
        raise AnswerError(f"a plain form answer, not a {element} answer")
    merged: dict[str, Any] = {}
    for entry in data if isinstance(data, list) else [data]:
        if isinstance(entry, Mapping):
            merged.update(entry)
    if isinstance(merged.get(element), Mapping):
        return dict(merged[element])
    candidates = [value for value in merged.values() if isinstance(value, Mapping) and key in value]
    if len(candidates) != 1:
        raise AnswerError(f"no {element} answer found (expected one object with {key!r})")
    return dict(candidates[0])


def finite_number(value: Any, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != value
        or value in (float("inf"), float("-inf"))
    ):
        raise AnswerError(f"{where} must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class JobAnswers:
    """A job's usable structured answers, the latest per (object, worker), as integer codes."""

    items: np.ndarray  # object index per answer
    workers: np.ndarray  # worker code per answer
    answers: list[dict[str, Any]]
    worker_ids: list[str]  # code -> WorkerId


def job_answers(rows: list[tuple[int, str, str]]) -> JobAnswers:
    """(object index, WorkerId, chosen JSON) rows in submission order -> JobAnswers; a worker who
    answered an object twice (a re-posted HIT) counts once, with the later answer."""
    latest = {(index, worker): chosen for index, worker, chosen in rows}
    codes: dict[str, int] = {}
    workers = [codes.setdefault(worker, len(codes)) for _, worker in latest]
    return JobAnswers(
        np.fromiter((index for index, _ in latest), dtype=np.int64, count=len(latest)),
        np.asarray(workers, dtype=np.int64).reshape(-1),
        [json.loads(c) for c in latest.values()],
        list(codes),
    )


def confidence(value: float, workers_per_object: int) -> float:
    """Rounded to two places like Ground Truth; 0.00 when one worker labels each object."""
    return 0.0 if workers_per_object == 1 else round(float(value), 2)
