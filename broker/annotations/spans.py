"""Named entities in the engine: crowd-entity-annotation answers in, Ground Truth's text-span
layout out, scoring.SpanConsolidator in between. Offsets are Unicode code points (Python string
indices), endOffset exclusive, as the element writes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from broker.annotations.base import (
    AnnotationKind,
    Consolidation,
    confidence,
    element_value,
    job_answers,
)
from broker.domain.answers import AnswerError
from scoring import SpanConsolidator

ELEMENT = "crowd-entity-annotation"


def _offset(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise AnswerError(f"{where} must be a whole number, got {value!r}")
    return int(value)


def read_spans(data: Any, labels: list[str], data_object: Mapping[str, Any]) -> dict[str, Any]:
    """{"entities": [[class, start, end], ...]}, or AnswerError naming the entity that is wrong
    (unknown label, empty span, a span past the text's end)."""
    value = element_value(data, ELEMENT, "entities")
    text = data_object.get("source")
    if not isinstance(text, str):
        raise AnswerError("the data object has no 'source' text to check the spans against")
    marked = value.get("entities")
    if not isinstance(marked, list):
        raise AnswerError('"entities" must be a list of spans')
    index_of = {label: index for index, label in enumerate(labels)}
    entities: list[list[int]] = []
    for n, entity in enumerate(marked):
        where = f"entities[{n}]"
        if not isinstance(entity, Mapping):
            raise AnswerError(f"{where} is not an object")
        if entity.get("label") not in index_of:
            raise AnswerError(f"{where}: unknown label {entity.get('label')!r}")
        start = _offset(entity.get("startOffset"), f"{where}.startOffset")
        end = _offset(entity.get("endOffset"), f"{where}.endOffset")
        if not 0 <= start < end:
            raise AnswerError(f"{where}: the span [{start}, {end}) is empty or negative")
        if end > len(text):
            raise AnswerError(f"{where}: the span [{start}, {end}) runs past the text's end ({len(text)} characters)")
        entities.append([index_of[entity["label"]], start, end])
    return {"entities": entities}


def consolidate_spans(rows: list[tuple[int, str, str]], spec: Any, n_objects: int) -> Consolidation:
    """Cluster spans by Jaccard overlap; mode/median boundaries and labels by worker reliability."""
    job = job_answers(rows)
    counts = np.fromiter((len(a["entities"]) for a in job.answers), dtype=np.int64, count=len(job.answers))
    flat = np.asarray([e for a in job.answers for e in a["entities"]], dtype=np.int64).reshape(-1, 3)
    model = SpanConsolidator().fit(
        np.repeat(job.items, counts),
        np.repeat(job.workers, counts),
        flat[:, 1],
        flat[:, 2],
        flat[:, 0],
        answered_objects=job.items,
        answered_workers=job.workers,
        n_objects=n_objects,
        n_workers=len(job.worker_ids),
        n_labels=len(spec.labels),
    )
    label_list = [{"label": label} for label in spec.labels]
    values: dict[int, Any] = {}
    metadata: dict[int, dict[str, Any]] = {}
    for index in np.unique(job.items).tolist():
        starts, ends, classes, confidences = model.entities_of(index)
        values[index] = {
            "annotations": {
                "labels": label_list,
                "entities": [
                    {"label": spec.labels[c], "startOffset": s, "endOffset": e}
                    for c, s, e in zip(classes.tolist(), starts.tolist(), ends.tolist())
                ],
            }
        }
        metadata[index] = {"entities": [{"confidence": confidence(c, spec.workers_per_object)} for c in confidences]}
    accuracy = {worker: float(model.reliability_[code]) for code, worker in enumerate(job.worker_ids)}
    return Consolidation(values, metadata, accuracy)


KIND = AnnotationKind(ELEMENT, read_spans, consolidate_spans)
