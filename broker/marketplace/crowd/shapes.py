"""Simulated answers of the shape tools: box adjustment (crowd-bounding-box with an initial
value), crowd-polygon and crowd-keypoint.

Truth is the same record as for boxes ({boundingBoxes|boxes|annotations, width/height}),
optionally with "polygons" [{label, vertices: [{x, y}]}] or "keypoints" [{label, x, y}];
when those are absent, polygons are the truth boxes' corners and keypoints their centres.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from broker.marketplace.crowd.models import BoxTruth, WorkerModelSpec, _box, confuse_labels, rng_for

SPAMMERS = ("spammer", "constant")


@dataclass(frozen=True)
class Shape:
    """One true object: its label and vertex array (n x 2; one row for a keypoint) in pixels."""

    label: str
    points: np.ndarray


def _size(truth: BoxTruth) -> dict[str, int]:
    return {"height": int(truth.height), "width": int(truth.width)}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (n, 4) and (m, 4) [left, top, width, height] arrays -> (n, m)."""
    a = a.reshape(-1, 4)[:, None, :]
    b = b.reshape(-1, 4)[None, :, :]
    x1 = np.maximum(a[..., 0], b[..., 0])
    y1 = np.maximum(a[..., 1], b[..., 1])
    x2 = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    y2 = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _box_array(boxes: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return np.array(
        [[float(b["left"]), float(b["top"]), float(b["width"]), float(b["height"])] for b in boxes], dtype=float
    ).reshape(-1, 4)


# --- box adjustment -----------------------------------------------------------------------


def initial_boxes(task_input: Mapping[str, Any], labels: Sequence[str]) -> list[dict[str, Any]] | None:
    """The page's initial boxes as the element loads them (labels not on the page dropped);
    None when the page has no initial value (a plain drawing task)."""
    value = task_input.get("initialValue")
    if value is None:
        return None
    return [
        {"label": str(b["label"]), **{k: float(b.get(k) or 0) for k in ("left", "top", "width", "height")}}
        for b in (value if isinstance(value, list) else [])
        if isinstance(b, Mapping) and b.get("label") in labels
    ]


def adjust_boxes(
    spec: WorkerModelSpec,
    labels: Sequence[str],
    initial: list[dict[str, Any]],
    truth: BoxTruth,
    seed: int,
    worker: int,
    object_key: str,
) -> dict[str, Any]:
    """An adjustment page's answer: start from the initial boxes and fix them toward the truth.

    Careful workers match each true box to the initial box over it (IoU >= 0.3), redraw it on the
    object with their usual jitter and true label, delete initial boxes over nothing and add the
    boxes that were missing; each fix is skipped with the worker's miss rate (sloppy workers leave
    more wrong). Spammers and constant workers submit the initial boxes untouched.
    """
    labels = list(labels) or ["object"]
    rng = rng_for("answer-adjust", seed, worker, object_key)
    start = [_box(b["label"], b["left"], b["top"], b["width"], b["height"], truth.width, truth.height) for b in initial]
    if spec.kind in SPAMMERS or not truth.boxes and not initial:
        out = start
    else:
        true = _box_array(truth.boxes)
        init = _box_array(initial)
        overlap = box_iou(true, init) if len(init) else np.zeros((len(true), 0))
        match = np.full(len(true), -1)
        taken: set[int] = set()
        for t in np.argsort(-overlap.max(axis=1, initial=0.0)):  # greedy: best-covered true box first
            candidates = [j for j in np.argsort(-overlap[t]) if j not in taken and overlap[t, j] >= 0.3]
            if candidates:
                match[t] = candidates[0]
                taken.add(int(candidates[0]))
        fixes = rng.random(len(true)) >= spec.miss_rate  # does the worker fix/add this true box?
        scale = np.column_stack([true[:, 2], true[:, 3], true[:, 2], true[:, 3]])
        redrawn = true + rng.normal(0.0, spec.box_jitter, size=true.shape) * scale
        if spec.kind == "adversary":
            redrawn[:, 0] += true[:, 2] * 1.5
        given = confuse_labels(spec, labels, [str(b.get("label", labels[0])) for b in truth.boxes], rng, seed, worker)
        out = []
        for t in range(len(true)):
            if fixes[t]:
                out.append(_box(given[t], *redrawn[t], truth.width, truth.height))
            elif match[t] >= 0:
                out.append(start[match[t]])  # left as it was
        deletes = rng.random(len(init)) >= spec.miss_rate
        out.extend(start[j] for j in range(len(init)) if j not in taken and not deletes[j])
    modified = sorted(map(_box_key, out)) != sorted(map(_box_key, start))
    return {"boundingBoxes": out, "inputImageProperties": _size(truth), "initialValueModified": bool(modified)}


def _box_key(box: Mapping[str, Any]) -> tuple:
    return (box["label"], box["left"], box["top"], box["width"], box["height"])


# --- polygons and keypoints ---------------------------------------------------------------


def true_shapes(truth: Any, boxes: BoxTruth, kind: str) -> list[Shape]:
    """Polygons (kind "polygons") or keypoints ("keypoints") of the truth record, else derived
    from its boxes: the 4 corners, or the centre."""
    given = truth.get(kind) if isinstance(truth, Mapping) else None
    if isinstance(given, list) and given:
        if kind == "polygons":
            return [
                Shape(str(p["label"]), np.array([[float(v["x"]), float(v["y"])] for v in p["vertices"]])) for p in given
            ]
        return [Shape(str(k["label"]), np.array([[float(k["x"]), float(k["y"])]])) for k in given]
    shapes = []
    for b in boxes.boxes:
        left, top, w, h = (float(b[k]) for k in ("left", "top", "width", "height"))
        label = str(b.get("label", ""))
        if kind == "polygons":
            shapes.append(Shape(label, np.array([[left, top], [left + w, top], [left + w, top + h], [left, top + h]])))
        else:
            shapes.append(Shape(label, np.array([[left + w / 2, top + h / 2]])))
    return shapes


def _extent(points: np.ndarray, truth: BoxTruth) -> float:
    """The length jitter is relative to: the shape's mean side, or a tenth of the image for a point."""
    if len(points) > 1:
        span = points.max(axis=0) - points.min(axis=0)
        return float(max(span.mean(), 1.0))
    return 0.1 * min(truth.width, truth.height)


def _random_shapes(
    spec: WorkerModelSpec,
    labels: list[str],
    truth: BoxTruth,
    rng: np.random.Generator,
    n_points: int,
    seed: int,
    worker: int,
) -> list[tuple[str, np.ndarray]]:
    place = rng_for("constant-shape", seed, worker) if spec.kind == "constant" else rng
    count = 1 if spec.kind == "constant" else int(rng.integers(0, 4))
    out = []
    for _ in range(count):
        centre = place.uniform([0, 0], [truth.width, truth.height])
        radius = place.uniform(0.03, 0.3) * min(truth.width, truth.height)
        angles = np.sort(place.uniform(0, 2 * np.pi, n_points)) if n_points > 1 else np.zeros(1)
        reach = radius if n_points > 1 else 0.0
        points = centre + reach * np.column_stack([np.cos(angles), np.sin(angles)])
        out.append((labels[int(place.integers(0, len(labels)))], points))
    return out


def answer_shapes(
    spec: WorkerModelSpec,
    labels: Sequence[str],
    truth: Any,
    boxes: BoxTruth,
    seed: int,
    worker: int,
    object_key: str,
    kind: str,
    initial: bool = False,
) -> dict[str, Any]:
    """crowd-polygon ({"polygons": [{label, vertices}]}) or crowd-keypoint ({"keypoints": [{label, x, y}]})
    output: each true shape's points jittered by the worker's box jitter, some missed, labels
    confused; spammers place random shapes (or none)."""
    labels = list(labels) or ["object"]
    rng = rng_for(f"answer-{kind}", seed, worker, object_key)
    shapes = true_shapes(truth, boxes, kind)
    drawn: list[tuple[str, np.ndarray]]
    if spec.kind in SPAMMERS:
        drawn = _random_shapes(spec, labels, boxes, rng, 4 if kind == "polygons" else 1, seed, worker)
    else:
        kept = rng.random(len(shapes)) >= spec.miss_rate
        given = confuse_labels(spec, labels, [s.label for s in shapes], rng, seed, worker)
        drawn = []
        for i in np.flatnonzero(kept):
            points = shapes[i].points
            scale = _extent(points, boxes)
            noisy = points + rng.normal(0.0, spec.box_jitter, size=points.shape) * scale
            if spec.kind == "adversary":
                noisy[:, 0] += 1.5 * scale
            drawn.append((given[i], noisy))
    limit = np.array([boxes.width, boxes.height], dtype=float)
    answer: dict[str, Any] = {}
    if kind == "polygons":
        answer["polygons"] = [
            {"label": label, "vertices": [{"x": int(x), "y": int(y)} for x, y in np.rint(np.clip(p, 0, limit))]}
            for label, p in drawn
        ]
    else:
        answer["keypoints"] = [
            {"label": label, "x": int(p[0, 0]), "y": int(p[0, 1])}
            for label, p in ((label, np.rint(np.clip(p, 0, limit))) for label, p in drawn)
        ]
    answer["inputImageProperties"] = _size(boxes)
    if initial:
        answer["initialValueModified"] = True  # the worker drew the shapes afresh
    return answer
