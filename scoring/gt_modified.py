"""SageMaker Ground Truth's "modified Dawid-Skene" (AWS's ``MulticlassDawidSkeneEM``), vectorised.

Kept so our outputs can be compared with Ground Truth's. Its rules:
every worker starts at accuracy 0.7 (rest spread evenly); the item prior is the
mean of the previous posteriors; each M-step adds to a worker's soft counts their
own one-coin matrix x n plus the pooled-accuracy matrix x n/2; the pooled accuracy
is then the mean worker accuracy; at most 20 epochs, stopping when the relative
log-likelihood change is below 1e-8; confidence = round(max posterior, 2).

One deliberate difference: AWS's loop computes its log-likelihood from posteriors
it has already normalised (always 0), so it never stops early and always runs 20
epochs; here the stop rule works as written, which changes results by < 1e-8.
"""

from __future__ import annotations

import numpy as np

from scoring._answers import Answers
from scoring._base import Classifier, clamp_gold, diagonal_confusion
from scoring.dawid_skene import log_likelihood


class GroundTruthDawidSkene(Classifier):
    """Ground Truth's image/text classification consolidation (see module docstring)."""

    def __init__(self, max_epochs: int = 20, min_relative_diff: float = 1e-8, initial_accuracy: float = 0.7) -> None:
        self.max_epochs = max_epochs
        self.min_relative_diff = min_relative_diff
        self.initial_accuracy = initial_accuracy

    def _fit(self, data: Answers, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        k = data.n_classes
        pooled_accuracy = self.initial_accuracy
        confusion = diagonal_confusion(np.full(data.n_workers, pooled_accuracy), k)
        posterior = clamp_gold(np.full((data.n_items, k), 1.0 / k), gold)
        previous = None
        ll, epoch = float("nan"), 0
        for epoch in range(1, self.max_epochs + 1):  # noqa: B007 - read after the loop
            prior = data.sum_answered(posterior)
            prior = prior / prior.sum()
            posterior, ll = log_likelihood(data, confusion, prior, gold)
            confusion, accuracy, has_answers = self._m_step(data, posterior, pooled_accuracy)
            if previous is not None and abs(ll - previous) < self.min_relative_diff * abs(previous):
                break
            previous = ll
            pooled_accuracy = float(accuracy[has_answers].mean())
        self.worker_confusion_ = confusion
        self.class_prior_ = prior
        self.n_iter_ = epoch
        self.log_likelihood_ = ll
        return posterior

    @staticmethod
    def _m_step(
        data: Answers, posterior: np.ndarray, pooled_accuracy: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = data.n_classes
        counts = data.confusion_counts(posterior)
        n = counts.sum(axis=(1, 2))
        has_answers = n > 0
        accuracy = np.divide(np.trace(counts, axis1=1, axis2=2), n, out=np.zeros_like(n), where=has_answers)
        counts += diagonal_confusion(accuracy, k) * n[:, None, None]
        counts += diagonal_confusion(np.array(pooled_accuracy), k)[None] * (n / 2)[:, None, None]
        totals = counts.sum(axis=2, keepdims=True)
        start = diagonal_confusion(np.array(pooled_accuracy), k)
        confusion = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), start)
        return confusion, accuracy, has_answers

    def _confidence(self, posterior: np.ndarray) -> np.ndarray:
        return np.round(posterior.max(axis=1), 2)
