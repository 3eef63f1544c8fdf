"""Bounding-box consolidation: match boxes across workers by IoU, average them by learned worker quality.

Ground Truth's own method matches the most similar boxes of different workers by
IoU and averages them. ``BoxConsolidator`` does the same matching but learns, EM
style, two things per worker from their agreement with the consolidated boxes:

* ``coordinate_noise_``: the RMS error of their box edges relative to the box size
  (a Gaussian noise model); matched boxes are averaged with weights 1 / noise**2.
* ``reliability_``: an IoU-weighted F-score: the summed IoU of their boxes with the
  kept consolidated boxes, over (kept boxes on their objects + their spurious boxes).
  A cluster's support is the reliability-weighted share of the object's workers
  that drew it; clusters below ``min_support`` are dropped.

Adjustment jobs (workers correct boxes drawn before) add a third: ``review_rate_``,
how often a worker looks at a box they were shown. A box copied unchanged is the
commonest lazy answer, and copies agree with each other exactly, so without it the
workers who submit what they were given outvote the ones who fix it. Given the
``initial_*`` boxes, a worker's review rate is the share of the initial boxes the
consolidation rejects (no kept box over them) that the worker did not copy; a copied
box (and an answer that copies everything) weighs ``reliability x review_rate``.

The clustering is shared with ``scoring.spans`` (spans are 1-D boxes):
``cluster_by_overlap`` builds clusters from one object's similarity matrix,
visiting workers from the most to the least reliable, each worker's items
assigned to clusters by Hungarian matching (``linear_sum_assignment``), so a
cluster never holds two items of one worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring._answers import AnswersError, index_array

EPS = 1e-12
COPY_TOLERANCE_PX = 0.5  # a box within this of an initial box on every edge is a copy of it


# ---------------------------------------------------------------- validation


def check_same_length(**arrays: np.ndarray) -> int:
    sizes = {name: len(a) for name, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name}={size}" for name, size in sizes.items())
        raise AnswersError(f"answer arrays must have the same length, got {listed}")
    return next(iter(sizes.values()))


def check_bound(name: str, values: np.ndarray, bound: int, bound_name: str) -> None:
    if values.size and values.max() >= bound:
        position = int(np.argmax(values))
        raise AnswersError(f"{name}[{position}] = {values[position]} is >= {bound_name} = {bound}")


def answered_pairs(
    objects: np.ndarray,
    workers: np.ndarray,
    answered_objects: object,
    answered_workers: object,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (object, worker) submissions: the rows' own pairs plus those with nothing drawn."""
    if (answered_objects is None) != (answered_workers is None):
        raise AnswersError("answered_objects and answered_workers must be given together")
    if answered_objects is not None:
        extra_o = index_array("answered_objects", answered_objects)
        extra_w = index_array("answered_workers", answered_workers)
        check_same_length(answered_objects=extra_o, answered_workers=extra_w)
        objects = np.concatenate([objects, extra_o])
        workers = np.concatenate([workers, extra_w])
    pairs = np.unique(np.stack([objects, workers], axis=1), axis=0) if objects.size else np.empty((0, 2), np.int64)
    return pairs[:, 0], pairs[:, 1]


# ---------------------------------------------------------------- geometry


def to_corners(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) left, top, width, height -> left, top, right, bottom."""
    corners = boxes.astype(np.float64, copy=True)
    corners[:, 2:] += corners[:, :2]
    return corners


def to_ltwh(corners: np.ndarray) -> np.ndarray:
    boxes = corners.copy()
    boxes[:, 2:] -= boxes[:, :2]
    return boxes


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (n, 4 corners) with every box in ``b`` (m, 4 corners)."""
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = width * height
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]`` for corner boxes of equal length."""
    width = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = width * height
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


# ---------------------------------------------------------------- clustering


def cluster_by_overlap(
    similarity: np.ndarray,
    item_workers: np.ndarray,
    worker_rank: np.ndarray,
    link_weight: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """Cluster id (0..C-1) of each of one object's items; at most one item per worker per cluster.

    Workers are visited by ascending ``worker_rank`` (most reliable first). Each
    worker's items are matched to the existing clusters by the Hungarian method on
    average-linkage similarity (``link_weight``-weighted mean of the similarity with
    the cluster's members); a match below ``threshold`` starts a new cluster.
    """
    from scipy.optimize import linear_sum_assignment  # lazy: scipy.optimize/ndimage cost ~0.5 s of CPU to import

    n = item_workers.size
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    linked = np.zeros((n, n))  # [item, cluster]: sum of link_weight * similarity over members
    cluster_weight = np.zeros(n)
    n_clusters = 0
    order = np.lexsort((item_workers, worker_rank))
    boundaries = np.flatnonzero(np.r_[True, item_workers[order][1:] != item_workers[order][:-1], True])
    for first, last in zip(boundaries[:-1], boundaries[1:]):
        own = order[first:last]
        if n_clusters:
            score = linked[own, :n_clusters] / np.maximum(cluster_weight[:n_clusters], EPS)
            rows, cols = linear_sum_assignment(score, maximize=True)
            good = score[rows, cols] >= threshold
            labels[own[rows[good]]] = cols[good]
        fresh = own[labels[own] < 0]
        labels[fresh] = n_clusters + np.arange(fresh.size)
        n_clusters += fresh.size
        targets = labels[own]  # distinct: one item per cluster per worker
        linked[:, targets] += similarity[:, own] * link_weight[own]
        cluster_weight[targets] += link_weight[own]
    return labels


def weight_sums(keys: np.ndarray, weights: np.ndarray, minlength: int) -> np.ndarray:
    """Sum of ``weights`` per key as float64 (``np.bincount`` returns int64 for empty input)."""
    return np.bincount(keys, weights=weights, minlength=minlength).astype(np.float64, copy=False)


def group_starts(sorted_keys: np.ndarray, n_groups: int) -> np.ndarray:
    """CSR-style start offsets of each group id in a sorted key array (length n_groups + 1)."""
    starts = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(sorted_keys, minlength=n_groups), out=starts[1:])
    return starts


def cluster_all(
    similarities: list[np.ndarray],
    starts: np.ndarray,
    item_workers: np.ndarray,
    worker_score: np.ndarray,
    link_weight: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Global cluster id of every item (sorted by object) and the object of each cluster."""
    rank = np.empty(worker_score.size, dtype=np.int64)
    rank[np.argsort(-worker_score, kind="stable")] = np.arange(worker_score.size)
    cluster_of = np.empty(item_workers.size, dtype=np.int64)
    cluster_object: list[np.ndarray] = []
    offset = 0
    for obj, similarity in enumerate(similarities):
        lo, hi = starts[obj], starts[obj + 1]
        if hi == lo:
            continue
        w = item_workers[lo:hi]
        local = cluster_by_overlap(similarity, w, rank[w], link_weight[lo:hi], threshold)
        cluster_of[lo:hi] = local + offset
        count = int(local.max()) + 1
        cluster_object.append(np.full(count, obj, dtype=np.int64))
        offset += count
    objects = np.concatenate(cluster_object) if cluster_object else np.empty(0, np.int64)
    return cluster_of, objects


# ---------------------------------------------------------------- worker model


def support_of_clusters(
    cluster_of: np.ndarray,
    item_workers: np.ndarray,
    cluster_object: np.ndarray,
    object_weight: np.ndarray,
    worker_weight: np.ndarray,
) -> np.ndarray:
    """Share of the object's worker weight (workers who answered it) carried by each cluster."""
    return support_of_weighted_clusters(cluster_of, worker_weight[item_workers], cluster_object, object_weight)


def support_of_weighted_clusters(
    cluster_of: np.ndarray, item_weight: np.ndarray, cluster_object: np.ndarray, object_weight: np.ndarray
) -> np.ndarray:
    """Share of the object's total weight carried by each cluster's items."""
    carried = weight_sums(cluster_of, item_weight, minlength=cluster_object.size)
    total = object_weight[cluster_object]
    return np.divide(carried, total, out=np.zeros_like(carried), where=total > 0)


def object_weights(
    pair_objects: np.ndarray, pair_workers: np.ndarray, worker_weight: np.ndarray, n_objects: int
) -> np.ndarray:
    """Sum of the weights of the workers who answered each object (drawn something or not)."""
    return weight_sums(pair_objects, worker_weight[pair_workers], minlength=n_objects)


def overlap_reliability(
    item_score: np.ndarray,
    item_objects: np.ndarray,
    item_workers: np.ndarray,
    item_kept: np.ndarray,
    kept_per_object: np.ndarray,
    pair_objects: np.ndarray,
    pair_workers: np.ndarray,
    n_workers: int,
    pseudo_count: float,
) -> np.ndarray:
    """Per worker: summed overlap score of their kept items / (kept items on their objects + spurious items).

    ``item_score`` is each item's overlap with its consolidated result (0 when the
    label differs). Only objects answered by two or more workers count: a lone
    worker trivially agrees with themself. Smoothed towards the pooled value by
    ``pseudo_count`` items (0.5 when nothing is informative).
    """
    shared = np.bincount(pair_objects, minlength=kept_per_object.size) >= 2
    item_counts = item_kept & shared[item_objects]
    gained = weight_sums(item_workers, np.where(item_counts, item_score, 0.0), minlength=n_workers)
    expected = weight_sums(pair_workers, (kept_per_object * shared)[pair_objects], minlength=n_workers)
    spurious = weight_sums(item_workers, (~item_kept & shared[item_objects]).astype(np.float64), minlength=n_workers)
    denominator = expected + spurious
    pooled = gained.sum() / denominator.sum() if denominator.sum() > 0 else 0.5
    return (gained + pseudo_count * pooled) / (denominator + pseudo_count)


def cluster_agreement(
    cluster_of: np.ndarray, item_workers: np.ndarray, item_score: np.ndarray, reliability: np.ndarray, n_clusters: int
) -> np.ndarray:
    """Per cluster: reliability-weighted mean overlap of members with the result.

    A lone item agrees with itself trivially, so it gets its worker's reliability instead.
    """
    weight = reliability[item_workers]
    members = np.bincount(cluster_of, minlength=n_clusters)
    summed = weight_sums(cluster_of, weight * item_score, minlength=n_clusters)
    total = weight_sums(cluster_of, weight, minlength=n_clusters)
    agreement = np.divide(summed, total, out=np.zeros(n_clusters), where=total > 0)
    lone_worker = np.zeros(n_clusters, dtype=np.int64)
    lone_worker[cluster_of] = item_workers
    lone = members == 1
    agreement[lone] = reliability[lone_worker[lone]]
    return agreement


def weighted_vote(
    cluster_of: np.ndarray, values: np.ndarray, weights: np.ndarray, n_clusters: int, n_values: int
) -> np.ndarray:
    """(clusters, n_values) summed weight of each value within each cluster."""
    flat = weight_sums(cluster_of * n_values + values, weights, minlength=n_clusters * n_values)
    return flat.reshape(n_clusters, n_values)


# ---------------------------------------------------------------- the estimator


@dataclass(frozen=True)
class BoxAnswers:
    """Validated box rows sorted by (object, worker), with each row's original position."""

    objects: np.ndarray
    workers: np.ndarray
    corners: np.ndarray  # (N, 4) left, top, right, bottom
    classes: np.ndarray
    position: np.ndarray  # original row index of each sorted row
    pair_objects: np.ndarray  # distinct (object, worker) submissions, empty ones included
    pair_workers: np.ndarray
    n_objects: int
    n_workers: int
    n_classes: int


def prepare_boxes(
    objects: object,
    workers: object,
    boxes: object,
    classes: object = None,
    answered_objects: object = None,
    answered_workers: object = None,
    n_objects: int | None = None,
    n_workers: int | None = None,
    n_classes: int | None = None,
) -> BoxAnswers:
    """Validate box answers; errors name the argument and row."""
    objects_a = index_array("objects", objects)
    workers_a = index_array("workers", workers)
    boxes_a = np.asarray(boxes, dtype=np.float64)
    if boxes_a.size == 0:
        boxes_a = boxes_a.reshape(0, 4)
    if boxes_a.ndim != 2 or boxes_a.shape[1] != 4:
        raise AnswersError(f"boxes must have shape (N, 4) as left, top, width, height; got {boxes_a.shape}")
    classes_a = np.zeros(objects_a.size, np.int64) if classes is None else index_array("classes", classes)
    check_same_length(objects=objects_a, workers=workers_a, boxes=boxes_a, classes=classes_a)
    bad = ~np.isfinite(boxes_a).all(axis=1) | (boxes_a[:, 2] < 0) | (boxes_a[:, 3] < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise AnswersError(f"boxes[{row}] = {boxes_a[row].tolist()} is not a finite box with width, height >= 0")
    pair_o, pair_w = answered_pairs(objects_a, workers_a, answered_objects, answered_workers)
    n_objects = int(pair_o.max()) + 1 if n_objects is None and pair_o.size else int(n_objects or 0)
    n_workers = int(pair_w.max()) + 1 if n_workers is None and pair_w.size else int(n_workers or 0)
    n_classes = int(classes_a.max()) + 1 if n_classes is None and classes_a.size else int(n_classes or 1)
    check_bound("objects", pair_o, n_objects, "n_objects")
    check_bound("workers", pair_w, n_workers, "n_workers")
    check_bound("classes", classes_a, n_classes, "n_classes")
    # a canonical order (not the rows' order) so the result does not depend on how rows arrive
    order = np.lexsort((*boxes_a.T[::-1], classes_a, workers_a, objects_a))
    return BoxAnswers(
        objects=objects_a[order],
        workers=workers_a[order],
        corners=to_corners(boxes_a[order]),
        classes=classes_a[order],
        position=order,
        pair_objects=pair_o,
        pair_workers=pair_w,
        n_objects=n_objects,
        n_workers=n_workers,
        n_classes=max(n_classes, 1),
    )


@dataclass(frozen=True)
class InitialBoxes:
    """The boxes an adjustment page showed, and which answer rows copy one of them."""

    objects: np.ndarray  # (B,) object of each initial box, sorted by object
    corners: np.ndarray  # (B, 4)
    classes: np.ndarray  # (B,)
    copy_of: np.ndarray  # (N,) per data row: the initial box it copies, -1 when drawn or changed
    pair_copied: np.ndarray  # (P,) per (object, worker) submission: every box a copy and none deleted


def _copy_keys(objects: np.ndarray, classes: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """One void-typed key per box: object, class and corners on the copy-tolerance grid."""
    grid = np.rint(corners / (2 * COPY_TOLERANCE_PX)).astype(np.int64)
    keys = np.ascontiguousarray(np.column_stack([objects, classes, grid]).astype(np.int64))
    return keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()


def prepare_initial(data: BoxAnswers, objects: object, boxes: object, classes: object) -> InitialBoxes:
    """Validate the initial boxes and find the rows that copy one (same object, class and edges)."""
    objects_a = index_array("initial_objects", objects)
    boxes_a = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if np.size(boxes) else np.empty((0, 4))
    classes_a = np.zeros(objects_a.size, np.int64) if classes is None else index_array("initial_classes", classes)
    check_same_length(initial_objects=objects_a, initial_boxes=boxes_a, initial_classes=classes_a)
    check_bound("initial_objects", objects_a, data.n_objects, "n_objects")
    order = np.argsort(objects_a, kind="stable")
    objects_a, corners, classes_a = objects_a[order], to_corners(boxes_a[order]), classes_a[order]
    initial_keys = _copy_keys(objects_a, classes_a, corners)
    sorted_index = np.argsort(initial_keys, kind="stable")
    row_keys = _copy_keys(data.objects, data.classes, data.corners)
    copy_of = np.full(row_keys.size, -1, dtype=np.int64)
    if initial_keys.size:
        sorted_keys = initial_keys[sorted_index]
        at = np.minimum(np.searchsorted(sorted_keys, row_keys), initial_keys.size - 1)
        found = sorted_keys[at] == row_keys
        copy_of[found] = sorted_index[at[found]]
    # a submission copies everything when all its rows are copies and it kept every initial box
    pair_key = data.pair_objects * max(data.n_workers, 1) + data.pair_workers
    row_pair = np.searchsorted(pair_key, data.objects * max(data.n_workers, 1) + data.workers)
    n_pairs = pair_key.size
    rows = np.bincount(row_pair, minlength=n_pairs)
    copies = np.bincount(row_pair, weights=(copy_of >= 0).astype(float), minlength=n_pairs)
    shown = np.bincount(objects_a, minlength=data.n_objects)[data.pair_objects]
    return InitialBoxes(objects_a, corners, classes_a, copy_of, (copies == rows) & (rows == shown))


def review_rates(
    data: BoxAnswers, initial: InitialBoxes, state: dict[str, np.ndarray], iou_threshold: float, pseudo_count: float
) -> np.ndarray:
    """Per worker: the share of rejected initial boxes (no kept consolidated box of their class over
    them at ``iou_threshold``) on their objects that they did not copy, smoothed to the pooled share."""
    kept = np.flatnonzero(state["kept"])
    rejected = np.ones(initial.objects.size, dtype=bool)
    for obj in np.unique(initial.objects):
        mine = np.flatnonzero(initial.objects == obj)
        theirs = kept[state["cluster_object"][kept] == obj]
        if theirs.size:
            iou = iou_matrix(initial.corners[mine], state["mean"][theirs])
            iou *= initial.classes[mine, None] == state["cluster_class"][theirs][None, :]
            rejected[mine] = iou.max(axis=1) < iou_threshold
    seen = weight_sums(
        data.pair_workers,
        np.bincount(initial.objects[rejected], minlength=data.n_objects)[data.pair_objects].astype(float),
        minlength=data.n_workers,
    )
    copied_rejected = (initial.copy_of >= 0) & rejected[np.maximum(initial.copy_of, 0)]
    copied = weight_sums(data.workers, copied_rejected.astype(float), minlength=data.n_workers)
    pooled = 1.0 - copied.sum() / seen.sum() if seen.sum() > 0 else 1.0
    return np.clip((seen - copied + pseudo_count * pooled) / (seen + pseudo_count), 0.0, 1.0)


class BoxConsolidator:
    """Consolidate workers' bounding boxes per object (single or multi-class).

    Parameters: ``iou_threshold`` to match a box to a cluster; ``min_support``, the
    reliability-weighted share of an object's workers a box needs to be kept;
    ``match_classes`` (only boxes of the same class match); ``learn_workers``
    (False gives Ground Truth's plain matched average with equal weights);
    ``max_iter``/``tol`` for the EM loop; ``pseudo_count`` smoothing of worker
    estimates towards the pooled value.

    After ``fit``: ``boxes_`` (M, 4) left, top, width, height; ``classes_``,
    ``objects_``, ``confidence_``, ``support_`` (M,), sorted by object, with
    ``object_starts_`` (n_objects + 1) so object o's boxes are
    ``boxes_[object_starts_[o]:object_starts_[o + 1]]``; ``answer_box_`` (N,)
    the consolidated box each input row went into, -1 if dropped;
    ``reliability_``, ``coordinate_noise_`` and ``review_rate_`` (n_workers,; all ones
    without ``initial_*``); ``n_iter_``.
    """

    def __init__(
        self,
        iou_threshold: float = 0.5,
        min_support: float = 0.5,
        match_classes: bool = True,
        learn_workers: bool = True,
        max_iter: int = 10,
        tol: float = 1e-3,
        pseudo_count: float = 2.0,
    ) -> None:
        self.iou_threshold = iou_threshold
        self.min_support = min_support
        self.match_classes = match_classes
        self.learn_workers = learn_workers
        self.max_iter = max_iter
        self.tol = tol
        self.pseudo_count = pseudo_count

    def fit(
        self,
        objects: object,
        workers: object,
        boxes: object,
        classes: object = None,
        answered_objects: object = None,
        answered_workers: object = None,
        n_objects: int | None = None,
        n_workers: int | None = None,
        n_classes: int | None = None,
        initial_objects: object = None,
        initial_boxes: object = None,
        initial_classes: object = None,
    ) -> BoxConsolidator:
        """One row per drawn box; ``answered_*`` list submissions too (needed for workers who drew nothing);
        ``initial_*``: for an adjustment job, the boxes each object's page started from."""
        data = prepare_boxes(
            objects, workers, boxes, classes, answered_objects, answered_workers, n_objects, n_workers, n_classes
        )
        initial = (
            None if initial_objects is None else prepare_initial(data, initial_objects, initial_boxes, initial_classes)
        )
        starts = group_starts(data.objects, data.n_objects)
        similarities = self._similarities(data, starts)
        reliability = np.ones(data.n_workers)
        noise = np.full(data.n_workers, 0.1)
        review = np.ones(data.n_workers)
        n_iter = 0
        for n_iter in range(1, max(self.max_iter, 1) + 1):  # noqa: B007 - read after the loop
            state = self._consolidate(data, starts, similarities, reliability, noise, initial, review)
            if not self.learn_workers:
                break
            new_reliability, new_noise = self._worker_model(data, state)
            new_review = (
                review if initial is None else review_rates(data, initial, state, self.iou_threshold, self.pseudo_count)
            )
            change = max(
                np.abs(new_reliability - reliability).max(initial=0),
                np.abs(new_noise - noise).max(initial=0),
                np.abs(new_review - review).max(initial=0),
            )
            reliability, noise, review = new_reliability, new_noise, new_review
            if change < self.tol:
                break
        weights_used = reliability
        if self.learn_workers:
            state = self._consolidate(data, starts, similarities, reliability, noise, initial, review)
        else:
            reliability, noise = self._worker_model(data, state)  # reported, not used
        self.review_rate_ = review
        self._store(data, state, weights_used, reliability, noise, n_iter)
        return self

    def _similarities(self, data: BoxAnswers, starts: np.ndarray) -> list[np.ndarray]:
        """Per object, the IoU matrix of all its boxes (0 across classes when ``match_classes``)."""
        out = []
        for obj in range(data.n_objects):
            lo, hi = starts[obj], starts[obj + 1]
            iou = iou_matrix(data.corners[lo:hi], data.corners[lo:hi])
            if self.match_classes:
                iou *= data.classes[lo:hi, None] == data.classes[None, lo:hi]
            out.append(iou)
        return out

    def _consolidate(
        self,
        data: BoxAnswers,
        starts: np.ndarray,
        similarities: list[np.ndarray],
        reliability: np.ndarray,
        noise: np.ndarray,
        initial: InitialBoxes | None = None,
        review: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """E-step: clusters, their precision-weighted mean boxes, classes and support (a copied box,
        and a submission that copies everything, weigh reliability x review rate)."""
        precision = 1.0 / np.maximum(noise, 1e-3) ** 2
        row_precision = precision[data.workers]
        cluster_of, cluster_object = cluster_all(
            similarities, starts, data.workers, reliability, row_precision, self.iou_threshold
        )
        n_clusters = cluster_object.size
        total = weight_sums(cluster_of, row_precision, minlength=n_clusters)
        mean = (
            np.stack(
                [weight_sums(cluster_of, row_precision * data.corners[:, j], minlength=n_clusters) for j in range(4)],
                axis=1,
            )
            / np.maximum(total, EPS)[:, None]
        )
        row_weight = reliability[data.workers]
        pair_weight = reliability[data.pair_workers]
        if initial is not None and review is not None:
            row_weight = row_weight * np.where(initial.copy_of >= 0, review[data.workers], 1.0)
            pair_weight = pair_weight * np.where(initial.pair_copied, review[data.pair_workers], 1.0)
        class_votes = weighted_vote(cluster_of, data.classes, row_weight, n_clusters, data.n_classes)
        cluster_class = class_votes.argmax(axis=1) if n_clusters else np.empty(0, np.int64)
        weight_of_object = weight_sums(data.pair_objects, pair_weight, minlength=data.n_objects)
        support = support_of_weighted_clusters(cluster_of, row_weight, cluster_object, weight_of_object)
        kept = support >= self.min_support - 1e-9
        row_iou = paired_iou(data.corners, mean[cluster_of]) * (data.classes == cluster_class[cluster_of])
        return {
            "cluster_of": cluster_of,
            "cluster_object": cluster_object,
            "mean": mean,
            "cluster_class": cluster_class,
            "support": support,
            "kept": kept,
            "row_iou": row_iou,
        }

    def _worker_model(self, data: BoxAnswers, state: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """M-step: each worker's IoU-F reliability and relative edge noise from their kept boxes."""
        cluster_of, kept = state["cluster_of"], state["kept"]
        row_kept = kept[cluster_of]
        kept_per_object = np.bincount(state["cluster_object"][kept], minlength=data.n_objects).astype(np.float64)
        reliability = overlap_reliability(
            state["row_iou"],
            data.objects,
            data.workers,
            row_kept,
            kept_per_object,
            data.pair_objects,
            data.pair_workers,
            data.n_workers,
            self.pseudo_count,
        )
        members = np.bincount(cluster_of, minlength=state["cluster_object"].size)
        informative = row_kept & (members[cluster_of] >= 2)
        mean = state["mean"][cluster_of]
        size = np.maximum(np.stack([mean[:, 2] - mean[:, 0], mean[:, 3] - mean[:, 1]], axis=1), 1.0)
        residual = (data.corners - mean) / np.concatenate([size, size], axis=1)
        squared = np.where(informative, (residual**2).sum(axis=1), 0.0)
        count = weight_sums(data.workers, informative * 4.0, minlength=data.n_workers)
        summed = weight_sums(data.workers, squared, minlength=data.n_workers)
        pooled = summed.sum() / count.sum() if count.sum() > 0 else 0.01
        prior = 4.0 * self.pseudo_count
        noise = np.sqrt((summed + prior * pooled) / (count + prior))
        return reliability, noise

    def _store(
        self,
        data: BoxAnswers,
        state: dict[str, np.ndarray],
        weights_used: np.ndarray,
        reliability: np.ndarray,
        noise: np.ndarray,
        n_iter: int,
    ) -> None:
        cluster_of, kept = state["cluster_of"], state["kept"]
        keep_index = np.flatnonzero(kept)  # clusters are numbered object by object: stays sorted by object
        new_id = np.full(kept.size, -1, dtype=np.int64)
        new_id[keep_index] = np.arange(keep_index.size)
        agreement = cluster_agreement(
            state["cluster_of"], data.workers, state["row_iou"], weights_used, state["cluster_object"].size
        )
        self.boxes_ = to_ltwh(state["mean"][keep_index]) if keep_index.size else np.empty((0, 4))
        self.classes_ = state["cluster_class"][keep_index]
        self.objects_ = state["cluster_object"][keep_index]
        self.support_ = state["support"][keep_index]
        self.confidence_ = np.clip(self.support_ * agreement[keep_index], 0.0, 1.0)
        self.object_starts_ = group_starts(self.objects_, data.n_objects)
        answer_box = np.full(data.objects.size, -1, dtype=np.int64)
        answer_box[data.position] = new_id[cluster_of] if cluster_of.size else np.empty(0, np.int64)
        self.answer_box_ = answer_box
        self.reliability_ = reliability
        self.coordinate_noise_ = noise
        self.n_iter_ = n_iter
        self.n_objects_ = data.n_objects

    def boxes_of(self, obj: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes, classes, confidence) of one object."""
        lo, hi = self.object_starts_[obj], self.object_starts_[obj + 1]
        return self.boxes_[lo:hi], self.classes_[lo:hi], self.confidence_[lo:hi]


def matched_iou(pred_boxes: object, pred_classes: object, true_boxes: object, true_classes: object) -> float:
    """Detection quality of one object: summed IoU of Hungarian-matched same-class pairs / max(#pred, #true).

    Missed and spurious boxes count as IoU 0; 1.0 when both are empty. Used against gold.
    """
    from scipy.optimize import linear_sum_assignment  # lazy: scipy.optimize/ndimage cost ~0.5 s of CPU to import

    pred = to_corners(np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4))
    true = to_corners(np.asarray(true_boxes, dtype=np.float64).reshape(-1, 4))
    if pred.shape[0] == 0 and true.shape[0] == 0:
        return 1.0
    if pred.shape[0] == 0 or true.shape[0] == 0:
        return 0.0
    iou = iou_matrix(pred, true) * (np.asarray(pred_classes)[:, None] == np.asarray(true_classes)[None, :])
    rows, cols = linear_sum_assignment(iou, maximize=True)
    return float(iou[rows, cols].sum() / max(pred.shape[0], true.shape[0]))
