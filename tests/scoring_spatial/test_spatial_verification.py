"""Verification verdicts consolidated by a classification estimator with worker quality."""

from __future__ import annotations

import numpy as np
import pytest

from scoring._answers import AnswersError
from scoring.verification import VerificationConsolidator


def verdict_crowd(seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, 150)
    objects = np.repeat(np.arange(150), 3)
    workers = np.concatenate([rng.choice(6, 3, replace=False) for _ in range(150)])
    accuracy = np.array([0.95, 0.92, 0.9, 0.55, 0.5, 0.93])
    right = rng.random(objects.size) < accuracy[workers]
    verdicts = np.where(right, truth[objects], 1 - truth[objects]).astype(bool)
    return objects, workers, verdicts, truth


def test_em_verdicts_beat_majority_and_rank_workers() -> None:
    objects, workers, verdicts, truth = verdict_crowd()
    em = VerificationConsolidator().fit(objects, workers, verdicts)
    majority = VerificationConsolidator(method="majority").fit(objects, workers, verdicts)
    assert (em.labels_ == truth).mean() > (majority.labels_ == truth).mean()
    assert em.reliability_[[3, 4]].max() < em.reliability_[[0, 1, 2, 5]].min()
    assert em.proba_.shape == (150, 2)


def test_object_without_verdicts_is_unlabelled() -> None:
    est = VerificationConsolidator().fit([0, 0, 2], [0, 1, 0], [True, True, False], n_objects=4)
    assert est.labels_.tolist()[1] == -1 and est.labels_.tolist()[3] == -1
    assert est.labels_[0] == 1 and est.confidence_[1] == 0.0


def test_non_integer_verdicts_are_rejected() -> None:
    with pytest.raises(AnswersError, match="verdicts"):
        VerificationConsolidator().fit([0], [0], [0.5])
