"""Bounding boxes (and box adjustment) in the engine: crowd-bounding-box answers in, Ground Truth's
object-detection layout out, scoring.BoxConsolidator in between."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from broker.annotations.base import (
    AnnotationKind,
    Consolidation,
    confidence,
    element_value,
    finite_number,
    job_answers,
)
from broker.domain.answers import AnswerError
from scoring import BoxConsolidator

ELEMENT = "crowd-bounding-box"
# A box may overhang the image by this many pixels (a drag that ends on the border) and is clipped;
# beyond it the answer is flagged: the worker drew outside the image, or the tool is broken.
EDGE_TOLERANCE_PX = 2.0
IMAGE_DEPTH = 3  # the answer gives width and height only; Ground Truth writes RGB images as depth 3
ADJUSTED, UNADJUSTED = "adjusted", "unadjusted"


def read_boxes(data: Any, labels: list[str], data_object: Mapping[str, Any]) -> dict[str, Any]:
    """{"image": [width, height], "boxes": [[class, left, top, width, height], ...]} (+ "modified"
    for adjustment answers), or AnswerError naming the box and what is wrong with it."""
    value = element_value(data, ELEMENT, "boundingBoxes")
    size = value.get("inputImageProperties")
    if not isinstance(size, Mapping):
        raise AnswerError("the answer has no inputImageProperties {width, height}")
    width = finite_number(size.get("width"), "inputImageProperties.width")
    height = finite_number(size.get("height"), "inputImageProperties.height")
    if width <= 0 or height <= 0:
        raise AnswerError(f"inputImageProperties is {width:g}x{height:g}; the image needs a positive size")
    drawn = value.get("boundingBoxes")
    if not isinstance(drawn, list):
        raise AnswerError('"boundingBoxes" must be a list of boxes')
    index_of = {label: index for index, label in enumerate(labels)}
    boxes: list[list[float]] = []
    for n, box in enumerate(drawn):
        where = f"boundingBoxes[{n}]"
        if not isinstance(box, Mapping):
            raise AnswerError(f"{where} is not an object")
        if box.get("label") not in index_of:
            raise AnswerError(f"{where}: unknown label {box.get('label')!r}")
        left, top, w, h = (finite_number(box.get(key), f"{where}.{key}") for key in ("left", "top", "width", "height"))
        if w <= 0 or h <= 0:
            raise AnswerError(f"{where}: width and height must be positive, got {w:g}x{h:g}")
        tol = EDGE_TOLERANCE_PX
        if left < -tol or top < -tol or left + w > width + tol or top + h > height + tol:
            raise AnswerError(
                f"{where}: the box at ({left:g}, {top:g}) of {w:g}x{h:g} lies outside the {width:g}x{height:g} image"
            )
        right, bottom = min(left + w, width), min(top + h, height)
        left, top = max(left, 0.0), max(top, 0.0)
        boxes.append([index_of[box["label"]], left, top, right - left, bottom - top])
    answer: dict[str, Any] = {"image": [width, height], "boxes": boxes}
    if "initialValueModified" in value:
        answer["modified"] = bool(value["initialValueModified"])
    return answer


class InitialBoxesError(ValueError):
    """A manifest line lacks the earlier job's boxes, or they do not fit the job's labels."""


def initial_boxes(data_object: Mapping[str, Any], attribute: str, labels: list[str]) -> list[dict[str, Any]]:
    """An earlier object-detection output (annotations + class-map) as crowd-bounding-box's
    initial-value: [{label, left, top, width, height}]."""
    value = data_object.get(attribute)
    metadata = data_object.get(f"{attribute}-metadata")
    if not isinstance(value, Mapping) or not isinstance(value.get("annotations"), list):
        raise InitialBoxesError(f"data object has no object-detection output {attribute!r} with 'annotations'")
    class_map = metadata.get("class-map") if isinstance(metadata, Mapping) else None
    if not isinstance(class_map, Mapping):
        raise InitialBoxesError(f"data object has no '{attribute}-metadata' with a 'class-map'")
    boxes: list[dict[str, Any]] = []
    for index, box in enumerate(value["annotations"]):
        where = f"{attribute}.annotations[{index}]"
        try:
            label = class_map[str(box["class_id"])]
            numbers = {k: float(box[k]) for k in ("left", "top", "width", "height")}
        except (KeyError, TypeError, ValueError) as error:
            raise InitialBoxesError(
                f"{where}: needs class_id (in the class-map), left, top, width, height ({error})"
            ) from None
        if label not in labels:
            raise InitialBoxesError(f"{where}: label {label!r} is not one of the job's labels")
        boxes.append({"label": label, **{k: int(v) if v.is_integer() else v for k, v in numbers.items()}})
    return boxes


def initial_box_arrays(data_objects: Mapping[int, Mapping[str, Any]], spec: Any) -> dict[str, np.ndarray]:
    """BoxConsolidator's initial_* arguments: the earlier boxes each adjustment page showed."""
    index_of = {label: i for i, label in enumerate(spec.labels)}
    attribute = spec.adjustment.label_attribute
    shown = [
        (index, box)
        for index, data in data_objects.items()
        for box in initial_boxes(data, attribute, list(spec.labels))
    ]
    return {
        "initial_objects": np.array([index for index, _ in shown], dtype=np.int64),
        "initial_boxes": np.array(
            [[b["left"], b["top"], b["width"], b["height"]] for _, b in shown], dtype=np.float64
        ).reshape(-1, 4),
        "initial_classes": np.array([index_of[b["label"]] for _, b in shown], dtype=np.int64),
    }


def consolidate_boxes(
    rows: list[tuple[int, str, str]],
    spec: Any,
    n_objects: int,
    *,
    adjustment: bool = False,
    data_objects: Mapping[int, Mapping[str, Any]] | None = None,
) -> Consolidation:
    """Match boxes across workers by IoU and average them by learned worker quality (scoring); for an
    adjustment, with the initial boxes, so workers who copy what they were shown weigh less."""
    job = job_answers(rows)
    initial = initial_box_arrays(data_objects, spec) if adjustment and data_objects is not None else {}
    counts = np.fromiter((len(a["boxes"]) for a in job.answers), dtype=np.int64, count=len(job.answers))
    flat = np.asarray([box for a in job.answers for box in a["boxes"]], dtype=np.float64).reshape(-1, 5)
    model = BoxConsolidator().fit(
        np.repeat(job.items, counts),
        np.repeat(job.workers, counts),
        flat[:, 1:],
        flat[:, 0].astype(np.int64),
        answered_objects=job.items,
        answered_workers=job.workers,
        n_objects=n_objects,
        n_workers=len(job.worker_ids),
        n_classes=len(spec.labels),
        **initial,
    )
    sizes: dict[int, Counter] = {}
    modified: dict[int, bool] = {}
    for index, answer in zip(job.items.tolist(), job.answers):
        sizes.setdefault(index, Counter())[tuple(answer["image"])] += 1
        modified[index] = modified.get(index, False) or bool(answer.get("modified"))
    rounded = np.rint(model.boxes_).astype(np.int64)
    values: dict[int, Any] = {}
    metadata: dict[int, dict[str, Any]] = {}
    for index, counter in sizes.items():
        lo, hi = model.object_starts_[index], model.object_starts_[index + 1]
        width, height = counter.most_common(1)[0][0]
        classes = model.classes_[lo:hi].tolist()
        values[index] = {
            "image_size": [{"width": int(round(width)), "height": int(round(height)), "depth": IMAGE_DEPTH}],
            "annotations": [
                {"class_id": int(c), "left": int(b[0]), "top": int(b[1]), "width": int(b[2]), "height": int(b[3])}
                for c, b in zip(classes, rounded[lo:hi].tolist())
            ],
        }
        metadata[index] = {
            "objects": [{"confidence": confidence(c, spec.workers_per_object)} for c in model.confidence_[lo:hi]],
            "class-map": {str(c): spec.labels[c] for c in sorted(set(classes))},
        }
        if adjustment:
            metadata[index]["adjustment-status"] = ADJUSTED if modified[index] else UNADJUSTED
    accuracy = {worker: float(model.reliability_[code]) for code, worker in enumerate(job.worker_ids)}
    return Consolidation(values, metadata, accuracy)


def consolidate_adjusted_boxes(
    rows: list[tuple[int, str, str]], spec: Any, n_objects: int, *, data_objects: Mapping[int, Mapping[str, Any]]
) -> Consolidation:
    return consolidate_boxes(rows, spec, n_objects, adjustment=True, data_objects=data_objects)


KIND = AnnotationKind(ELEMENT, read_boxes, consolidate_boxes)
ADJUSTMENT_KIND = AnnotationKind(ELEMENT, read_boxes, consolidate_adjusted_boxes, uses_data_objects=True)
