"""How good each worker of a job is: EM accuracy, gold accuracy, agreement, confusion.

Fitted with the default estimator on the answers consolidation uses (labelled, not rejected),
so a worker's agreement is agreement with the job's consolidated labels. The reports and the
quality rules read the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import scoring
from broker.answer_table import JobAnswerTable


@dataclass(frozen=True)
class JobWorkerQuality:
    """EM quality of the workers of one job, indexed like `JobAnswerTable.worker_ids`."""

    n_fitted: np.ndarray  # usable answers per worker (what EM saw)
    em_accuracy: np.ndarray
    accuracy_low: np.ndarray  # 95% interval of the EM accuracy (Beta over the worker's answers)
    accuracy_high: np.ndarray
    gold_n: np.ndarray
    gold_accuracy: np.ndarray
    agreement: np.ndarray
    spammer_score: np.ndarray
    confusion: np.ndarray | None  # (workers, K, K): P(answer | true class); None for multi-label jobs
    class_confusion: np.ndarray | None  # (K, K) counts: consolidated (or gold) class x answer


def job_worker_quality(answers: JobAnswerTable) -> JobWorkerQuality:
    """Fit the default EM estimator on the usable answers and read scoring.worker_stats."""
    n_workers = len(answers.worker_ids)
    k = len(answers.labels)
    nan = np.full(n_workers, np.nan)
    usable = answers.usable
    n_fitted = np.bincount(answers.workers[usable], minlength=n_workers)
    if answers.multilabel or not usable.any() or k < 2:
        return JobWorkerQuality(
            n_fitted,
            nan,
            nan.copy(),
            nan.copy(),
            np.zeros(n_workers, dtype=np.int64),
            nan.copy(),
            nan.copy(),
            nan.copy(),
            None,
            None,
        )
    items, workers, labels = answers.items[usable], answers.workers[usable], answers.chosen[usable]
    n_items = answers.consolidated.size
    model = scoring.estimator("default").fit(items, workers, labels, n_classes=k, n_items=n_items, n_workers=n_workers)
    gold_items = np.flatnonzero(answers.gold >= 0)
    stats = scoring.worker_stats(
        items, workers, labels, model, gold_items=gold_items, gold_labels=answers.gold[gold_items]
    )
    seen = n_fitted > 0
    truth = np.where(answers.gold >= 0, answers.gold, answers.consolidated)[answers.items]
    labelled = (truth >= 0) & (answers.chosen >= 0)
    class_confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(class_confusion, (truth[labelled], answers.chosen[labelled]), 1)
    return JobWorkerQuality(
        n_fitted=n_fitted,
        em_accuracy=np.where(seen, stats.em_accuracy, np.nan),
        accuracy_low=np.where(seen, stats.accuracy_ci_low, np.nan),
        accuracy_high=np.where(seen, stats.accuracy_ci_high, np.nan),
        gold_n=stats.gold_n.astype(np.int64),
        gold_accuracy=stats.gold_accuracy,
        agreement=stats.agreement,
        spammer_score=np.where(seen, stats.spammer_score, np.nan),
        confusion=np.asarray(model.worker_confusion_),
        class_confusion=class_confusion,
    )
