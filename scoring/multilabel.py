"""Multi-label consolidation: one "is class c present?" decision per (item, class).

Every answer (a set of chosen classes) is expanded into K binary answers, one per
class. Worker quality is shared across classes: each worker has one 2x2 confusion
matrix (sensitivity, specificity) learned from all of their binary answers, while
each class keeps its own prevalence. This is what lets a worker's reliability on
frequent classes inform the rare ones, where per-class data is thin.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from scoring._answers import Answers, AnswersError, prepare_answers
from scoring._base import normalise_log, soft_majority
from scoring.majority import row_normalise

ABSENT, PRESENT = 0, 1


class MultiLabel:
    """Ground Truth multi-label consolidation with shared worker quality.

    ``keep="likely"`` lists classes whose posterior is at least ``threshold``;
    ``keep="chosen"`` lists every class at least one worker chose, as Ground Truth
    does. Labels are ordered by descending confidence; confidences are rounded to
    ``decimals`` places like Ground Truth's ``confidence-map``.
    """

    def __init__(
        self,
        max_iter: int = 100,
        tol: float = 1e-6,
        prior_strength: float = 2.0,
        threshold: float = 0.5,
        keep: Literal["likely", "chosen"] = "likely",
        decimals: int = 2,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.prior_strength = prior_strength
        self.threshold = threshold
        self.keep = keep
        self.decimals = decimals

    def fit(
        self,
        items: object,
        workers: object,
        answer_matrix: object,
        n_classes: int,
        n_items: int | None = None,
        n_workers: int | None = None,
    ) -> MultiLabel:
        """Fit on (answers,) item and worker codes and an (answers, K) boolean choice matrix."""
        if self.keep not in ("likely", "chosen"):
            raise AnswersError(f"keep must be 'likely' or 'chosen', got {self.keep!r}")
        chosen = np.asarray(answer_matrix)
        items_a = np.asarray(items)
        if chosen.ndim != 2 or chosen.shape[1] != n_classes:
            raise AnswersError(f"answer_matrix must have shape (answers, {n_classes}), got {chosen.shape}")
        if chosen.shape[0] != items_a.size:
            raise AnswersError(f"answer_matrix has {chosen.shape[0]} rows but there are {items_a.size} answers")
        if chosen.dtype != bool and not np.isin(chosen, (0, 1)).all():
            raise AnswersError("answer_matrix must hold booleans (or 0/1)")
        if items_a.size == 0:
            raise AnswersError("no answers to consolidate: items, workers and answer_matrix are empty")
        n_items = int(items_a.max()) + 1 if n_items is None else int(n_items)
        k = int(n_classes)
        # pseudo-item i*K + c, binary label "c chosen"
        stacked = prepare_answers(
            np.repeat(np.asarray(items_a, dtype=np.int64) * k, k) + np.tile(np.arange(k), items_a.size),
            np.repeat(np.asarray(workers), k),
            chosen.astype(np.int64).ravel(),
            n_classes=2,
            n_items=n_items * k,
            n_workers=n_workers,
        )
        posterior = self._em(stacked, k)
        present = posterior[:, PRESENT].reshape(n_items, k)
        answered = stacked.answered.reshape(n_items, k)[:, 0]
        chosen_any = stacked.vote_counts()[:, PRESENT].reshape(n_items, k) > 0

        self.proba_ = present
        self.worker_accuracy_ = np.einsum("wkk,k->w", self.worker_confusion_, self.class_balance_)
        listed = present >= self.threshold if self.keep == "likely" else chosen_any
        listed &= answered[:, None]
        self.labels_, self.confidence_map_ = self._layout(present, listed)
        return self

    def _em(self, data: Answers, k: int) -> np.ndarray:
        """Binary EM over the stacked (item, class) answers; one 2x2 matrix per worker."""
        posterior = soft_majority(data)
        answered = data.answered.reshape(-1, k)
        n_answered = answered.sum(axis=0)
        previous, ll = None, float("nan")
        self.n_iter_ = 0
        for n_iter in range(1, self.max_iter + 1):
            self.n_iter_ = n_iter
            counts = data.confusion_counts(posterior)
            pooled = row_normalise(counts.sum(axis=0) + 0.01)
            confusion = row_normalise(counts + (self.prior_strength * (pooled + np.eye(2)) / 2)[None])
            present = posterior[:, PRESENT].reshape(-1, k)
            prevalence = ((present * answered).sum(axis=0) + 1.0) / (n_answered + 2.0)
            per_row = np.tile(prevalence, answered.shape[0])
            log_prior = np.log(np.stack([1.0 - per_row, per_row], axis=1))
            posterior, log_norm = normalise_log(data.log_joint(np.log(confusion), log_prior))
            ll = float(data.sum_answered(log_norm))
            if previous is not None and abs(ll - previous) <= self.tol * abs(previous):
                break
            previous = ll
        self.worker_confusion_ = confusion
        self.prevalence_ = prevalence
        self.class_balance_ = np.array([1.0 - prevalence.mean(), prevalence.mean()])
        self.log_likelihood_ = ll
        return posterior

    def _layout(self, present: np.ndarray, listed: np.ndarray) -> tuple[list[list[int]], list[dict[int, float]]]:
        rounded = np.round(present, self.decimals)
        order = np.argsort(-present, axis=1, kind="stable")
        labels: list[list[int]] = []
        maps: list[dict[int, float]] = []
        for row_order, row_listed, row_conf in zip(order, listed, rounded):
            chosen = [int(c) for c in row_order if row_listed[c]]
            labels.append(chosen)
            maps.append({c: float(row_conf[c]) for c in chosen})
        return labels, maps
