"""Majority vote: the baseline every EM method must beat, and their starting point."""

from __future__ import annotations

import numpy as np

from scoring._answers import Answers
from scoring._base import Classifier, clamp_gold, soft_majority


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Normalise the last axis; all-zero rows become uniform."""
    totals = counts.sum(axis=-1, keepdims=True)
    uniform = np.full_like(counts, 1.0 / counts.shape[-1])
    return np.divide(counts, totals, out=uniform, where=totals > 0)


class MajorityVote(Classifier):
    """Most frequent answer; confidence is the vote share; ties broken by a seeded coin.

    Worker confusion is each worker's answers tallied against the vote shares.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _fit(self, data: Answers, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        posterior = clamp_gold(soft_majority(data), gold)
        self.worker_confusion_ = row_normalise(data.confusion_counts(posterior))
        self.class_prior_ = (
            posterior[data.answered].mean(axis=0)
            if data.answered.any()
            else (np.full(data.n_classes, 1.0 / data.n_classes))
        )
        self.n_iter_ = 0
        self.log_likelihood_ = float("nan")
        return posterior

    def _tie_break(self, posterior: np.ndarray) -> np.ndarray:
        best = posterior >= posterior.max(axis=1, keepdims=True) - 1e-12
        coin = np.random.default_rng(self.seed).random(posterior.shape)
        return np.argmax(np.where(best, 1.0 + coin, 0.0), axis=1)
