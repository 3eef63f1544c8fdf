"""Per-worker quality report from a fitted estimator: what a requester reviews before paying or blocking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaincinv

from scoring._answers import prepare_answers, prepare_gold
from scoring._base import Classifier


@dataclass(frozen=True)
class WorkerStats:
    """Arrays indexed by worker code.

    ``em_accuracy``: the model's probability that the worker labels a random item
    correctly (class-prior-weighted diagonal of their confusion matrix).
    ``accuracy_ci_low/high``: central interval of the Beta(``accuracy_a``, ``accuracy_b``)
    posterior of the worker's accuracy: the estimator's own (``worker_accuracy_beta_``,
    the default's empirical-Bayes posterior widened by the disagreement of its fitted
    worker models) when it has one, else Beta(1 + expected correct, 1 + expected wrong)
    over the worker's answers. A worker with 2 answers
    gets a wide interval. ``accuracy_predictive_interval`` gives the range a gold
    check of n answers should fall in.
    ``gold_accuracy``: share of the worker's answers on gold items that match gold (nan without any).
    ``agreement``: share of the worker's answers equal to the consolidated label.
    ``spammer_score``: 1 when all confusion rows are equal (the answer ignores the
    truth), 0 for a perfect worker; mean total-variation distance of the rows from
    their mean, rescaled and subtracted from 1.
    """

    n_answers: np.ndarray
    em_accuracy: np.ndarray
    accuracy_ci_low: np.ndarray
    accuracy_ci_high: np.ndarray
    accuracy_a: np.ndarray
    accuracy_b: np.ndarray
    gold_accuracy: np.ndarray
    gold_n: np.ndarray
    agreement: np.ndarray
    spammer_score: np.ndarray


def spammer_score(confusion: np.ndarray) -> np.ndarray:
    """1 - rescaled mean total-variation distance of each confusion row from the mean row."""
    k = confusion.shape[-1]
    if k < 2:
        return np.ones(confusion.shape[0])
    mean_row = confusion.mean(axis=1, keepdims=True)
    distance = 0.5 * np.abs(confusion - mean_row).sum(axis=2).mean(axis=1)
    return np.clip(1.0 - distance / (1.0 - 1.0 / k), 0.0, 1.0)


def worker_stats(
    items: object,
    workers: object,
    labels: object,
    fitted_estimator: Classifier,
    gold_items: object = None,
    gold_labels: object = None,
    interval: float = 0.95,
) -> WorkerStats:
    """Quality of every worker from the answers the estimator was fitted on."""
    n_items, n_classes = fitted_estimator.proba_.shape
    n_workers = fitted_estimator.worker_confusion_.shape[0]
    data = prepare_answers(items, workers, labels, n_classes, n_items=n_items, n_workers=n_workers)
    g_items, g_labels = prepare_gold(gold_items, gold_labels, n_items, n_classes)

    n_answers = np.bincount(data.workers, minlength=n_workers)
    expected_correct = np.bincount(
        data.workers, weights=fitted_estimator.proba_[data.items, data.labels], minlength=n_workers
    )
    tail = (1.0 - interval) / 2
    own = getattr(fitted_estimator, "worker_accuracy_beta_", None)
    if own is not None:
        a, b = own[:, 0].astype(np.float64), own[:, 1].astype(np.float64)
    else:
        a, b = 1.0 + expected_correct, 1.0 + n_answers - expected_correct
    low, high = betaincinv(a, b, tail), betaincinv(a, b, 1.0 - tail)  # Beta(a, b) quantiles

    gold_of_item = np.full(n_items, -1)
    gold_of_item[g_items] = g_labels
    answer_gold = gold_of_item[data.items]
    on_gold = answer_gold >= 0
    gold_n = np.bincount(data.workers[on_gold], minlength=n_workers)
    gold_right = np.bincount(
        data.workers[on_gold], weights=(data.labels[on_gold] == answer_gold[on_gold]), minlength=n_workers
    )
    gold_accuracy = np.divide(gold_right, gold_n, out=np.full(n_workers, np.nan), where=gold_n > 0)

    agrees = np.bincount(
        data.workers, weights=(data.labels == fitted_estimator.labels_[data.items]), minlength=n_workers
    )
    agreement = np.divide(agrees, n_answers, out=np.full(n_workers, np.nan), where=n_answers > 0)

    return WorkerStats(
        n_answers=n_answers,
        em_accuracy=np.asarray(fitted_estimator.worker_accuracy_, dtype=np.float64),
        accuracy_ci_low=low,
        accuracy_ci_high=high,
        accuracy_a=a,
        accuracy_b=b,
        gold_accuracy=gold_accuracy,
        gold_n=gold_n,
        agreement=agreement,
        spammer_score=spammer_score(fitted_estimator.worker_confusion_),
    )


def accuracy_predictive_interval(
    a: np.ndarray, b: np.ndarray, n: np.ndarray, interval: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Central interval of the share right in a check of ``n`` answers, for accuracy ~ Beta(a, b).

    A gold check of 20 answers has binomial noise of its own (+-0.2 at 80%), which a
    credible interval for the accuracy itself does not contain: this Beta-binomial
    predictive interval is what the measured share should fall in ``interval`` of the time.
    """
    from scipy.stats import betabinom  # lazy: scipy.stats costs ~1 s of CPU to import

    tail = (1.0 - interval) / 2
    n = np.asarray(n)
    low, high = betabinom.ppf(tail, n, a, b), betabinom.ppf(1.0 - tail, n, a, b)
    safe = np.maximum(n, 1)
    return np.where(n > 0, low / safe, 0.0), np.where(n > 0, high / safe, 1.0)
