"""Worker models of the simulated crowd: how each simulated worker answers, and how long it takes.

Every answer is a pure function of (seed, worker index, data object): the random generator
for an answer is seeded from those three, so thread scheduling never changes what a worker says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MODEL_KINDS = ("good", "sloppy", "spammer", "constant", "adversary")
_ALIASES = {
    "uniform": "spammer",
    "uniform_spammer": "spammer",
    "constant_spammer": "constant",
    "adversarial": "adversary",
}
DEFAULT_MIX = "good=0.6,sloppy=0.25,spammer=0.15"


def stable_hash(*parts: object) -> int:
    """A 63-bit hash that is the same in every process (unlike hash())."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def rng_for(*parts: object) -> np.random.Generator:
    return np.random.default_rng(stable_hash(*parts))


@dataclass(frozen=True)
class WorkerModelSpec:
    """One simulated worker's behaviour. Accuracy is the mean of its confusion matrix's diagonal."""

    kind: str = "good"
    accuracy: float = 0.93
    box_jitter: float = 0.03  # std of each box edge, as a fraction of the box's size
    miss_rate: float = 0.03  # probability of missing a box entirely
    work_seconds: float = 8.0  # median seconds for a single-label classification
    work_sigma: float = 0.45  # lognormal spread of work time
    reservation_cents_per_hour: float = 138.0  # the wage this worker looks for
    return_probability: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown worker model {self.kind!r}; expected one of {', '.join(MODEL_KINDS)}")
        if not 0.0 <= self.accuracy <= 1.0:
            raise ValueError(f"accuracy must be in [0, 1], got {self.accuracy}")


def parse_mix(mix: str | Mapping[str, float]) -> dict[str, float]:
    """'good=0.6,sloppy=0.25,spammer=0.15' -> normalised shares; errors name the bad part."""
    if isinstance(mix, str):
        pairs: dict[str, float] = {}
        for part in (p.strip() for p in mix.split(",") if p.strip()):
            name, sep, share = part.partition("=")
            if not sep:
                raise ValueError(f"--mix part {part!r} is not NAME=SHARE")
            try:
                pairs[name.strip()] = float(share)
            except ValueError as exc:
                raise ValueError(f"--mix share {share!r} of {name!r} is not a number") from exc
        mix = pairs
    shares = {_ALIASES.get(k, k): float(v) for k, v in mix.items()}
    for name, share in shares.items():
        if name not in MODEL_KINDS:
            raise ValueError(f"--mix names unknown worker model {name!r}; expected {', '.join(MODEL_KINDS)}")
        if share < 0:
            raise ValueError(f"--mix share of {name!r} is negative")
    total = sum(shares.values())
    if total <= 0:
        raise ValueError("--mix shares sum to zero")
    return {k: v / total for k, v in shares.items() if v > 0}


def _kind_counts(n_workers: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Largest-remainder apportionment of n_workers to kinds."""
    raw = {k: s * n_workers for k, s in shares.items()}
    counts = {k: int(np.floor(v)) for k, v in raw.items()}
    leftover = n_workers - sum(counts.values())
    for k in sorted(raw, key=lambda k: (counts[k] - raw[k], k))[:leftover]:
        counts[k] += 1
    return counts


# Reservation wages on MTurk are about log-normal with a median of $1.38/hour, and the extensive
# labor supply's elasticity at the median is 0.43 (Horton and Chilton, "The labor economics of
# paid crowdsourcing", EC 2010). For a log-normal, that elasticity is phi(0) / (Phi(0) * sigma),
# so sigma = 0.798 / 0.43.
RESERVATION_MEDIAN_CENTS_PER_HOUR = 138.0
RESERVATION_LOG_SIGMA = 0.3989422804 / (0.5 * 0.43)


def draw_spec(kind: str, seed: int, index: int) -> WorkerModelSpec:
    """Parameters of worker `index` of a given kind, drawn from its own generator."""
    rng = rng_for("spec", seed, index)
    wage = float(np.exp(rng.normal(np.log(RESERVATION_MEDIAN_CENTS_PER_HOUR), RESERVATION_LOG_SIGMA)))
    work = float(np.exp(rng.normal(np.log(8.0), 0.25)))
    if kind == "good":
        return WorkerModelSpec(
            "good",
            float(rng.uniform(0.9, 0.97)),
            float(rng.uniform(0.02, 0.04)),
            float(rng.uniform(0.01, 0.05)),
            work,
            0.45,
            wage,
            0.01,
        )
    if kind == "sloppy":
        return WorkerModelSpec(
            "sloppy",
            float(rng.uniform(0.6, 0.8)),
            float(rng.uniform(0.06, 0.12)),
            float(rng.uniform(0.1, 0.25)),
            work * 0.6,
            0.5,
            wage * 0.8,
            0.03,
        )
    if kind == "adversary":
        return WorkerModelSpec("adversary", float(rng.uniform(0.05, 0.15)), 0.2, 0.3, work * 0.7, 0.4, wage, 0.0)
    # spammers work fast and take almost any wage
    return WorkerModelSpec(kind, 0.0, 0.3, 0.5, float(rng.uniform(1.5, 3.0)), 0.3, wage * 0.3, 0.0)


def worker_specs(n_workers: int, seed: int, mix: str | Mapping[str, float] = DEFAULT_MIX) -> list[WorkerModelSpec]:
    """The crowd's workers: kinds apportioned by `mix`, shuffled by `seed`, parameters per worker."""
    if n_workers < 1:
        raise ValueError("the crowd needs at least one worker")
    counts = _kind_counts(n_workers, parse_mix(mix))
    kinds = [k for k in sorted(counts) for _ in range(counts[k])]
    order = np.random.default_rng(stable_hash("kinds", seed)).permutation(n_workers)
    return [draw_spec(kinds[position], seed, index) for index, position in enumerate(order)]


# --- classification ---------------------------------------------------------------------


def confusion_matrix(spec: WorkerModelSpec, n_classes: int, seed: int, worker: int, labels_key: str) -> np.ndarray:
    """Row-stochastic K x K matrix P[true, answered] of this worker for this label set.

    good/sloppy: per-class accuracy around spec.accuracy, errors spread unevenly (Dirichlet) so
    confusions are class-dependent; spammer: uniform rows; constant: one fixed column;
    adversary: mostly a fixed wrong class (a derangement of the labels).
    """
    k = n_classes
    rng = rng_for("confusion", seed, worker, labels_key)
    if k == 1:
        return np.ones((1, 1))
    if spec.kind == "spammer":
        return np.full((k, k), 1.0 / k)
    if spec.kind == "constant":
        matrix = np.zeros((k, k))
        matrix[:, int(rng.integers(0, k))] = 1.0
        return matrix
    if spec.kind == "adversary":
        shift = int(rng.integers(1, k))
        wrong = (np.arange(k) + shift) % k
        matrix = np.full((k, k), spec.accuracy / max(k - 1, 1))
        matrix[np.arange(k), np.arange(k)] = spec.accuracy
        matrix[np.arange(k), wrong] += 1.0 - matrix.sum(axis=1)
        return matrix / matrix.sum(axis=1, keepdims=True)
    diagonal = np.clip(spec.accuracy + rng.normal(0.0, 0.03, size=k), 0.0, 1.0)
    off = rng.dirichlet(np.full(k - 1, 0.8), size=k)  # how each class's errors spread
    matrix = np.zeros((k, k))
    for true in range(k):  # k is the label count (small), not the answer count
        others = [c for c in range(k) if c != true]
        matrix[true, others] = (1.0 - diagonal[true]) * off[true]
        matrix[true, true] = diagonal[true]
    return matrix


def latent_label_index(seed: int, object_key: str, n_classes: int) -> int:
    """Without a truth table, the object's 'true' class is a fixed function of (seed, object)."""
    return stable_hash("latent", seed, object_key) % n_classes


def answer_label(
    spec: WorkerModelSpec, labels: Sequence[str], truth: Any, seed: int, worker: int, object_key: str
) -> str:
    labels = list(labels)
    if not labels:
        return ""
    k = len(labels)
    true_index = (
        labels.index(truth) if isinstance(truth, str) and truth in labels else latent_label_index(seed, object_key, k)
    )
    matrix = confusion_matrix(spec, k, seed, worker, "\x1e".join(labels))
    rng = rng_for("answer", seed, worker, object_key)
    return labels[int(rng.choice(k, p=matrix[true_index]))]


def confuse_labels(
    spec: WorkerModelSpec,
    labels: Sequence[str],
    true_labels: Sequence[str],
    rng: np.random.Generator,
    seed: int,
    worker: int,
) -> list[str]:
    """The labels this worker gives objects of `true_labels` (shapes, regions, spans), drawn from
    its confusion matrix over the page's labels; a true label not on the page is kept as is."""
    labels = list(labels)
    if not true_labels:
        return []
    if len(labels) < 2:
        return list(true_labels)
    matrix = confusion_matrix(spec, len(labels), seed, worker, "\x1e".join(labels))
    known = np.array([t in labels for t in true_labels])
    rows = np.array([labels.index(t) if t in labels else 0 for t in true_labels])
    cumulative = np.cumsum(matrix[rows], axis=1)
    drawn = (rng.random(len(rows))[:, None] > cumulative).sum(axis=1).clip(0, len(labels) - 1)
    return [labels[d] if k else t for d, k, t in zip(drawn, known, true_labels)]


def answer_labels(
    spec: WorkerModelSpec, labels: Sequence[str], truth: Any, seed: int, worker: int, object_key: str
) -> list[str]:
    """Multi-label: each label's presence is judged independently with the worker's accuracy."""
    labels = list(labels)
    if not labels:
        return []
    rng = rng_for("answer-multi", seed, worker, object_key)
    if isinstance(truth, (list, tuple)):
        present = np.array([label in truth for label in labels])
    else:
        latent = rng_for("latent-multi", seed, object_key)
        present = latent.random(len(labels)) < 0.35
        if not present.any():
            present[int(latent.integers(0, len(labels)))] = True
    if spec.kind == "spammer":
        chosen = rng.random(len(labels)) < 0.5
    elif spec.kind == "constant":
        chosen = np.zeros(len(labels), dtype=bool)
        chosen[stable_hash("constant", seed, worker) % len(labels)] = True
    elif spec.kind == "adversary":
        chosen = ~present
    else:
        flips = rng.random(len(labels)) > spec.accuracy
        chosen = present ^ flips
    if not chosen.any():
        chosen[int(np.argmax(present)) if present.any() else int(rng.integers(0, len(labels)))] = True
    return [label for label, take in zip(labels, chosen) if take]


# --- bounding boxes ---------------------------------------------------------------------


@dataclass(frozen=True)
class BoxTruth:
    boxes: list[dict[str, Any]]
    width: int
    height: int


def box_truth(truth: Any, image_size: tuple[int, int] | None = None) -> BoxTruth | None:
    """Spatial truth from {boundingBoxes|boxes|annotations: [...], width/height | inputImageProperties |
    image_size} or a bare list of {label, left, top, width, height} (size then from `image_size`)."""
    boxes: Any = None
    size: Any = None
    if isinstance(truth, Mapping):
        boxes = truth.get("boundingBoxes") or truth.get("boxes") or truth.get("annotations") or []
        size = truth.get("inputImageProperties") or truth.get("image_size") or truth
    elif isinstance(truth, (list, tuple)) and all(isinstance(b, Mapping) and "left" in b for b in truth):
        boxes = truth
    if boxes is None:
        return None
    width, height = (size.get("width"), size.get("height")) if isinstance(size, Mapping) else (None, None)
    if not (width and height) and image_size is not None:
        width, height = image_size
    if not (width and height):
        return None
    return BoxTruth([dict(b) for b in boxes], int(width), int(height))


def latent_box_truth(labels: Sequence[str], seed: int, object_key: str, image_size: tuple[int, int] | None) -> BoxTruth:
    """Without a truth table, the image's 'true' boxes: 1-2 boxes fixed by (seed, object)."""
    labels = list(labels) or ["object"]
    width, height = image_size or (640, 480)
    latent = rng_for("latent-boxes", seed, object_key)
    boxes = []
    for _ in range(int(latent.integers(1, 3))):
        w, h = latent.uniform(0.15, 0.5) * width, latent.uniform(0.15, 0.5) * height
        boxes.append(
            {
                "label": labels[int(latent.integers(0, len(labels)))],
                "left": latent.uniform(0, width - w),
                "top": latent.uniform(0, height - h),
                "width": w,
                "height": h,
            }
        )
    return BoxTruth(boxes, width, height)


def answer_boxes(
    spec: WorkerModelSpec,
    labels: Sequence[str],
    truth: BoxTruth | None,
    seed: int,
    worker: int,
    object_key: str,
    image_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """crowd-bounding-box output: jittered true boxes, some missed, labels confused like a classifier."""
    labels = list(labels) or ["object"]
    rng = rng_for("answer-boxes", seed, worker, object_key)
    if truth is None:
        truth = latent_box_truth(labels, seed, object_key, image_size)
    width, height = truth.width, truth.height
    out: list[dict[str, Any]] = []
    if spec.kind in ("spammer", "constant"):
        count = 1 if spec.kind == "constant" else int(rng.integers(0, 4))  # a spammer may draw nothing
        place = rng_for("constant-box", seed, worker) if spec.kind == "constant" else rng
        for _ in range(count):
            w, h = place.uniform(0.05, 0.6) * width, place.uniform(0.05, 0.6) * height
            out.append(
                _box(
                    labels[int(place.integers(0, len(labels)))],
                    place.uniform(0, width - w),
                    place.uniform(0, height - h),
                    w,
                    h,
                    width,
                    height,
                )
            )
    else:
        boxes = truth.boxes
        if boxes:
            true = np.array([[b["left"], b["top"], b["width"], b["height"]] for b in boxes], dtype=float)
            kept = rng.random(len(boxes)) >= spec.miss_rate
            scale = np.column_stack([true[:, 2], true[:, 3], true[:, 2], true[:, 3]])
            noisy = true + rng.normal(0.0, spec.box_jitter, size=true.shape) * scale
            if spec.kind == "adversary":
                noisy[:, 0] += true[:, 2] * 1.5  # boxes beside the objects
            given = confuse_labels(spec, labels, [str(b.get("label", labels[0])) for b in boxes], rng, seed, worker)
            out.extend(_box(given[i], *noisy[i], width, height) for i in np.flatnonzero(kept))
    return {"boundingBoxes": out, "inputImageProperties": {"height": int(height), "width": int(width)}}


def _box(label: str, left: float, top: float, w: float, h: float, width: int, height: int) -> dict[str, Any]:
    left_i = int(round(min(max(left, 0.0), width - 1)))
    top_i = int(round(min(max(top, 0.0), height - 1)))
    w_i = int(round(min(max(w, 1.0), width - left_i)))
    h_i = int(round(min(max(h, 1.0), height - top_i)))
    return {"height": h_i, "label": label, "left": left_i, "top": top_i, "width": w_i}


# --- time ---------------------------------------------------------------------------------

ELEMENT_EFFORT = {  # median work time relative to a single-label classification
    "crowd-image-classifier": 1.0,
    "crowd-classifier": 1.0,
    "crowd-image-classifier-multi-select": 1.6,
    "crowd-classifier-multi-select": 1.6,
    "crowd-bounding-box": 4.0,
    "crowd-polygon": 6.0,
    "crowd-keypoint": 3.0,
    "crowd-semantic-segmentation": 8.0,
    "crowd-entity-annotation": 4.0,
}
EFFORT_PER_VERIFIED_ITEM = 0.4  # crowd-label-verification: a glance per item of the batch
GENERIC_EFFORT_PER_FIELD = 0.5


def effort(element: str | None, n_fields: int = 1) -> float:
    """Median work time relative to one classification; `n_fields` counts a form's fields or a
    verification batch's items."""
    if element == "crowd-label-verification":
        return max(1.0, EFFORT_PER_VERIFIED_ITEM * n_fields)
    if element in ELEMENT_EFFORT:
        return ELEMENT_EFFORT[element]
    return max(1.0, GENERIC_EFFORT_PER_FIELD * n_fields) if element is None else 2.0


def work_seconds(spec: WorkerModelSpec, seed: int, worker: int, object_key: str, task_effort: float) -> float:
    rng = rng_for("work-time", seed, worker, object_key)
    return float(spec.work_seconds * task_effort * np.exp(rng.normal(0.0, spec.work_sigma)))


# Accepting a HIT, waiting for its page and submitting it take a few seconds on top of the task
# itself, whoever the worker is; this bounds how many HITs even a worker who answers at random
# gets through. The figure is an assumption (a page load and two clicks), not a measurement.
HIT_OVERHEAD_MEDIAN_SECONDS = 4.0
HIT_OVERHEAD_SIGMA = 0.3


def hit_overhead_seconds(seed: int, worker: int, object_key: str) -> float:
    rng = rng_for("hit-overhead", seed, worker, object_key)
    return float(HIT_OVERHEAD_MEDIAN_SECONDS * np.exp(rng.normal(0.0, HIT_OVERHEAD_SIGMA)))


def will_return(spec: WorkerModelSpec, seed: int, worker: int, object_key: str) -> bool:
    return bool(rng_for("return", seed, worker, object_key).random() < spec.return_probability)
