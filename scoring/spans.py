"""Named-entity span consolidation: cluster spans by Jaccard overlap, mode/median boundaries, weighted label vote.

Ground Truth clusters the workers' spans by Jaccard similarity, takes each boundary
as the mode of the members' boundaries (the median when there is no clear mode)
and the label assigned most often. ``SpanConsolidator`` does the same with every
vote weighted by each worker's learned reliability (EM style: an overlap F-score
against the consolidated entities, see ``scoring.boxes.overlap_reliability``), and
drops clusters drawn by less than ``min_support`` of the object's worker weight.
Spans are half-open character intervals ``[start, end)``: Unicode offsets with
``endOffset`` exclusive, as the crowd-entity-annotation element writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring._answers import AnswersError
from scoring.boxes import (
    answered_pairs,
    check_bound,
    check_same_length,
    cluster_agreement,
    cluster_all,
    group_starts,
    index_array,
    object_weights,
    overlap_reliability,
    support_of_clusters,
    weight_sums,
    weighted_vote,
)


def jaccard_matrix(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Jaccard index (intersection / union of characters) of every pair of spans."""
    inter = np.clip(np.minimum(ends[:, None], ends[None, :]) - np.maximum(starts[:, None], starts[None, :]), 0, None)
    length = ends - starts
    union = length[:, None] + length[None, :] - inter
    return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)


def paired_jaccard(starts_a: np.ndarray, ends_a: np.ndarray, starts_b: np.ndarray, ends_b: np.ndarray) -> np.ndarray:
    inter = np.clip(np.minimum(ends_a, ends_b) - np.maximum(starts_a, starts_b), 0, None)
    union = (ends_a - starts_a) + (ends_b - starts_b) - inter
    return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)


def rank_within_groups(group_sorted: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... restarting at each new value of a sorted group array."""
    position = np.arange(group_sorted.size)
    first = np.r_[True, group_sorted[1:] != group_sorted[:-1]]
    return position - np.maximum.accumulate(np.where(first, position, 0))


def weighted_mode_or_median(
    cluster_of: np.ndarray, values: np.ndarray, weights: np.ndarray, n_clusters: int
) -> np.ndarray:
    """Per cluster: the value with the most weight if it is a clear winner, else the weighted (lower) median."""
    order = np.lexsort((values, cluster_of))
    c, v, w = cluster_of[order], values[order], weights[order]
    # total weight of each distinct (cluster, value), then each cluster's heaviest and second heaviest
    new_value = np.r_[True, (c[1:] != c[:-1]) | (v[1:] != v[:-1])]
    value_weight = np.bincount(np.cumsum(new_value) - 1, weights=w)
    value_cluster, value = c[new_value], v[new_value]
    heaviest_first = np.lexsort((-value_weight, value_cluster))
    rank = rank_within_groups(value_cluster[heaviest_first])
    top, runner_up = heaviest_first[rank == 0], heaviest_first[rank == 1]
    mode = np.zeros(n_clusters, dtype=np.int64)
    mode[value_cluster[top]] = value[top]
    top_weight = np.zeros(n_clusters)
    top_weight[value_cluster[top]] = value_weight[top]
    second_weight = np.zeros(n_clusters)
    second_weight[value_cluster[runner_up]] = value_weight[runner_up]
    # weighted lower median: the first value whose cumulative weight in its cluster reaches half the total
    total = weight_sums(c, w, minlength=n_clusters)
    cumulative = np.cumsum(w)
    before = (cumulative - w)[np.r_[True, c[1:] != c[:-1]]]  # weight of earlier clusters, per present cluster
    within = cumulative - np.repeat(before, np.bincount(c)[np.unique(c)])
    reached = within >= 0.5 * total[c] * (1 - 1e-12)
    first_reached = reached & np.r_[True, (c[1:] != c[:-1]) | ~reached[:-1]]
    median = np.zeros(n_clusters, dtype=np.int64)
    median[c[first_reached]] = v[first_reached]
    clear = top_weight > second_weight * (1 + 1e-9)
    return np.where(clear, mode, median)


@dataclass(frozen=True)
class SpanAnswers:
    """Validated span rows sorted by (object, worker), with each row's original position."""

    objects: np.ndarray
    workers: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    labels: np.ndarray
    position: np.ndarray
    pair_objects: np.ndarray
    pair_workers: np.ndarray
    n_objects: int
    n_workers: int
    n_labels: int


def prepare_spans(
    objects: object,
    workers: object,
    starts: object,
    ends: object,
    labels: object,
    answered_objects: object = None,
    answered_workers: object = None,
    n_objects: int | None = None,
    n_workers: int | None = None,
    n_labels: int | None = None,
    text_lengths: object = None,
) -> SpanAnswers:
    """Validate span answers; errors name the argument and row."""
    objects_a = index_array("objects", objects)
    workers_a = index_array("workers", workers)
    starts_a = index_array("starts", starts)
    ends_a = index_array("ends", ends)
    labels_a = index_array("labels", labels)
    check_same_length(objects=objects_a, workers=workers_a, starts=starts_a, ends=ends_a, labels=labels_a)
    empty = ends_a <= starts_a
    if empty.any():
        row = int(np.argmax(empty))
        raise AnswersError(
            f"span {row} is empty or reversed: starts[{row}] = {starts_a[row]}, ends[{row}] = {ends_a[row]}"
        )
    pair_o, pair_w = answered_pairs(objects_a, workers_a, answered_objects, answered_workers)
    n_objects = int(pair_o.max()) + 1 if n_objects is None and pair_o.size else int(n_objects or 0)
    n_workers = int(pair_w.max()) + 1 if n_workers is None and pair_w.size else int(n_workers or 0)
    n_labels = int(labels_a.max()) + 1 if n_labels is None and labels_a.size else int(n_labels or 1)
    check_bound("objects", pair_o, n_objects, "n_objects")
    check_bound("workers", pair_w, n_workers, "n_workers")
    check_bound("labels", labels_a, n_labels, "n_labels")
    if text_lengths is not None:
        lengths = index_array("text_lengths", text_lengths)
        if lengths.size != n_objects:
            raise AnswersError(f"text_lengths must have one entry per object ({n_objects}), got {lengths.size}")
        past = ends_a > lengths[objects_a]
        if past.any():
            row = int(np.argmax(past))
            raise AnswersError(
                f"ends[{row}] = {ends_a[row]} is past the end of object {objects_a[row]}'s text "
                f"(length {lengths[objects_a[row]]})"
            )
    # a canonical order (not the rows' order) so the result does not depend on how rows arrive
    order = np.lexsort((labels_a, ends_a, starts_a, workers_a, objects_a))
    return SpanAnswers(
        objects=objects_a[order],
        workers=workers_a[order],
        starts=starts_a[order],
        ends=ends_a[order],
        labels=labels_a[order],
        position=order,
        pair_objects=pair_o,
        pair_workers=pair_w,
        n_objects=n_objects,
        n_workers=n_workers,
        n_labels=max(n_labels, 1),
    )


class SpanConsolidator:
    """Consolidate workers' entity spans per text.

    Parameters: ``min_jaccard`` to match a span to a cluster; ``min_support``, the
    reliability-weighted share of the object's workers an entity needs;
    ``learn_workers`` (False: Ground Truth's unweighted mode/median and majority label);
    ``max_iter``/``tol``; ``pseudo_count`` smoothing of worker reliability.

    After ``fit``: ``starts_``, ``ends_``, ``labels_``, ``objects_``,
    ``confidence_``, ``support_`` (M,), sorted by object with ``object_starts_``
    (n_objects + 1); ``answer_entity_`` (N,) the entity each input row went into or
    -1; ``reliability_`` (n_workers,); ``n_iter_``.
    """

    def __init__(
        self,
        min_jaccard: float = 0.5,
        min_support: float = 0.5,
        learn_workers: bool = True,
        max_iter: int = 10,
        tol: float = 1e-3,
        pseudo_count: float = 2.0,
    ) -> None:
        self.min_jaccard = min_jaccard
        self.min_support = min_support
        self.learn_workers = learn_workers
        self.max_iter = max_iter
        self.tol = tol
        self.pseudo_count = pseudo_count

    def fit(
        self,
        objects: object,
        workers: object,
        starts: object,
        ends: object,
        labels: object,
        answered_objects: object = None,
        answered_workers: object = None,
        n_objects: int | None = None,
        n_workers: int | None = None,
        n_labels: int | None = None,
        text_lengths: object = None,
    ) -> SpanConsolidator:
        """One row per marked span; ``answered_*`` list submissions too (needed for workers who marked nothing)."""
        data = prepare_spans(
            objects,
            workers,
            starts,
            ends,
            labels,
            answered_objects,
            answered_workers,
            n_objects,
            n_workers,
            n_labels,
            text_lengths,
        )
        offsets = group_starts(data.objects, data.n_objects)
        similarities = [
            jaccard_matrix(data.starts[lo:hi], data.ends[lo:hi]) for lo, hi in zip(offsets[:-1], offsets[1:])
        ]
        reliability = np.ones(data.n_workers)
        n_iter = 0
        for n_iter in range(1, max(self.max_iter, 1) + 1):  # noqa: B007 - read after the loop
            state = self._consolidate(data, offsets, similarities, reliability)
            if not self.learn_workers:
                break
            new_reliability = self._worker_model(data, state)
            change = np.abs(new_reliability - reliability).max(initial=0)
            reliability = new_reliability
            if change < self.tol:
                break
        weights_used = reliability
        if self.learn_workers:
            state = self._consolidate(data, offsets, similarities, reliability)
        else:
            reliability = self._worker_model(data, state)  # reported, not used
        self._store(data, state, weights_used, reliability, n_iter)
        return self

    def _consolidate(
        self, data: SpanAnswers, offsets: np.ndarray, similarities: list[np.ndarray], reliability: np.ndarray
    ) -> dict[str, np.ndarray]:
        """E-step: clusters, their boundaries, labels and support."""
        weight = reliability[data.workers]
        cluster_of, cluster_object = cluster_all(
            similarities, offsets, data.workers, reliability, np.maximum(weight, 1e-6), self.min_jaccard
        )
        n_clusters = cluster_object.size
        if n_clusters:
            start = weighted_mode_or_median(cluster_of, data.starts, np.maximum(weight, 1e-6), n_clusters)
            end = weighted_mode_or_median(cluster_of, data.ends, np.maximum(weight, 1e-6), n_clusters)
            end = np.maximum(end, start + 1)
            label = weighted_vote(cluster_of, data.labels, weight, n_clusters, data.n_labels).argmax(axis=1)
        else:
            start = end = label = np.empty(0, np.int64)
        weight_of_object = object_weights(data.pair_objects, data.pair_workers, reliability, data.n_objects)
        support = support_of_clusters(cluster_of, data.workers, cluster_object, weight_of_object, reliability)
        row_score = paired_jaccard(data.starts, data.ends, start[cluster_of], end[cluster_of]) * (
            data.labels == label[cluster_of]
        )
        return {
            "cluster_of": cluster_of,
            "cluster_object": cluster_object,
            "start": start,
            "end": end,
            "label": label,
            "support": support,
            "kept": support >= self.min_support - 1e-9,
            "row_score": row_score,
        }

    def _worker_model(self, data: SpanAnswers, state: dict[str, np.ndarray]) -> np.ndarray:
        """M-step: each worker's overlap F-score (Jaccard x right label) against the kept entities."""
        kept = state["kept"]
        kept_per_object = np.bincount(state["cluster_object"][kept], minlength=data.n_objects).astype(np.float64)
        return overlap_reliability(
            state["row_score"],
            data.objects,
            data.workers,
            kept[state["cluster_of"]],
            kept_per_object,
            data.pair_objects,
            data.pair_workers,
            data.n_workers,
            self.pseudo_count,
        )

    def _store(
        self,
        data: SpanAnswers,
        state: dict[str, np.ndarray],
        weights_used: np.ndarray,
        reliability: np.ndarray,
        n_iter: int,
    ) -> None:
        cluster_of, kept = state["cluster_of"], state["kept"]
        keep_index = np.flatnonzero(kept)
        new_id = np.full(kept.size, -1, dtype=np.int64)
        new_id[keep_index] = np.arange(keep_index.size)
        agreement = cluster_agreement(cluster_of, data.workers, state["row_score"], weights_used, kept.size)
        self.starts_ = state["start"][keep_index]
        self.ends_ = state["end"][keep_index]
        self.labels_ = state["label"][keep_index]
        self.objects_ = state["cluster_object"][keep_index]
        self.support_ = state["support"][keep_index]
        self.confidence_ = np.clip(self.support_ * agreement[keep_index], 0.0, 1.0)
        self.object_starts_ = group_starts(self.objects_, data.n_objects)
        answer_entity = np.full(data.objects.size, -1, dtype=np.int64)
        answer_entity[data.position] = new_id[cluster_of]
        self.answer_entity_ = answer_entity
        self.reliability_ = reliability
        self.n_iter_ = n_iter
        self.n_objects_ = data.n_objects

    def entities_of(self, obj: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(starts, ends, labels, confidence) of one object's entities."""
        lo, hi = self.object_starts_[obj], self.object_starts_[obj + 1]
        return self.starts_[lo:hi], self.ends_[lo:hi], self.labels_[lo:hi], self.confidence_[lo:hi]


def exact_span_matches(
    pred_starts: object,
    pred_ends: object,
    pred_labels: object,
    true_starts: object,
    true_ends: object,
    true_labels: object,
) -> tuple[int, int, int]:
    """(true positives, #predicted, #true) for one text, counting a match only on same start, end and label.

    Summed over texts these give the usual exact-match precision, recall and F1.
    """

    def as_set(starts: object, ends: object, labels: object) -> set[tuple[int, int, int]]:
        return set(zip(np.asarray(starts).tolist(), np.asarray(ends).tolist(), np.asarray(labels).tolist()))

    pred = as_set(pred_starts, pred_ends, pred_labels)
    true = as_set(true_starts, true_ends, true_labels)
    return len(pred & true), len(pred), len(true)


def f1_from_counts(true_positives: int, n_predicted: int, n_true: int) -> float:
    """F1 from match counts; 1.0 when there was nothing to find and nothing was found."""
    total = n_predicted + n_true
    return 1.0 if total == 0 else 2.0 * true_positives / total
