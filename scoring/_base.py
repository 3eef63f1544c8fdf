"""Shared plumbing for the classification estimators: validation, gold clamping, results."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from scoring._answers import Answers, prepare_answers, prepare_gold


def row_max(values: np.ndarray) -> np.ndarray:
    """Max of each row; a column loop is ~10x faster than ``max(axis=1)`` when K is small."""
    if values.shape[1] > 16:
        return values.max(axis=1)
    top = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        np.maximum(top, values[:, column], out=top)
    return top


def row_sum(values: np.ndarray) -> np.ndarray:
    """Sum of each row, by column adds when K is small (no BLAS thread start-up, no strided reduce)."""
    if values.shape[1] > 16:
        return values.sum(axis=1)
    total = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        total += values[:, column]
    return total


def weighted_column_sums(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``weight @ values`` for an (N, K) array, column by column: no BLAS call, no slow axis-0 reduce."""
    return np.array([np.multiply(values[:, column], weight).sum() for column in range(values.shape[1])])


def normalise_log(log_joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised posterior and each row's log normaliser (log-sum-exp); overwrites its input."""
    top = row_max(log_joint)
    posterior = log_joint
    posterior -= top[:, None]
    np.exp(posterior, out=posterior)
    total = row_sum(posterior)
    posterior /= total[:, None]
    return posterior, np.log(total) + top


def soft_majority(data: Answers) -> np.ndarray:
    """Vote shares per item; items without answers get a uniform row."""
    votes = data.vote_counts()
    totals = row_sum(votes)[:, None]
    return np.divide(votes, totals, out=np.full_like(votes, 1.0 / data.n_classes), where=totals > 0)


def diagonal_confusion(accuracy: np.ndarray, n_classes: int) -> np.ndarray:
    """(W, K, K) matrices with ``accuracy`` on the diagonal and the rest spread evenly."""
    accuracy = np.asarray(accuracy, dtype=np.float64)
    off = (1.0 - accuracy) / max(n_classes - 1, 1)
    conf = np.repeat(off[..., None, None], n_classes, axis=-2).repeat(n_classes, axis=-1)
    idx = np.arange(n_classes)
    conf[..., idx, idx] = accuracy[..., None] if n_classes > 1 else 1.0
    return conf


class Classifier(ABC):
    """Base of the estimators: ``fit`` learns, learned state ends with ``_``.

    After ``fit``: ``labels_`` (items,) with -1 for items nobody answered (unless
    gold), ``proba_`` (items, K) posteriors (the class prior for unanswered items),
    ``confidence_`` (items,) max posterior (0 for unanswered items),
    ``worker_confusion_`` (workers, K, K) rows = true class, columns = answer,
    ``worker_accuracy_`` (workers,) class-prior-weighted diagonal, ``class_prior_``,
    ``n_iter_`` and ``log_likelihood_`` (observed-data log-likelihood; nan for
    majority vote).
    """

    labels_: np.ndarray
    proba_: np.ndarray
    confidence_: np.ndarray
    worker_confusion_: np.ndarray
    worker_accuracy_: np.ndarray
    class_prior_: np.ndarray
    n_iter_: int
    log_likelihood_: float
    n_classes_: int

    def get_params(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def fit(
        self,
        items: object,
        workers: object,
        labels: object,
        n_classes: int,
        n_items: int | None = None,
        n_workers: int | None = None,
        gold_items: object = None,
        gold_labels: object = None,
    ) -> Classifier:
        """Consolidate integer-coded answers; a worker's last row for an item is the one kept."""
        data = prepare_answers(items, workers, labels, n_classes, n_items, n_workers)
        gold = prepare_gold(gold_items, gold_labels, data.n_items, data.n_classes)
        return self.fit_answers(data, gold)

    def fit_answers(self, data: Answers, gold: tuple[np.ndarray, np.ndarray]) -> Classifier:
        """Fit on already prepared answers (lets callers reuse one ``Answers`` for many methods)."""
        self.n_classes_ = data.n_classes
        posterior = self._fit(data, gold)
        self._finish(data, gold, posterior)
        return self

    @abstractmethod
    def _fit(self, data: Answers, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Learn parameters (worker_confusion_, class_prior_, n_iter_, log_likelihood_).

        Returns the (items, K) posteriors with gold rows already clamped.
        """

    def _confidence(self, posterior: np.ndarray) -> np.ndarray:
        return posterior.max(axis=1)

    def _tie_break(self, posterior: np.ndarray) -> np.ndarray:
        return posterior.argmax(axis=1)

    def _finish(self, data: Answers, gold: tuple[np.ndarray, np.ndarray], posterior: np.ndarray) -> None:
        has_truth = data.answered.copy()
        has_truth[gold[0]] = True
        labels = self._tie_break(posterior)
        labels[~has_truth] = -1
        confidence = self._confidence(posterior)
        confidence[~has_truth] = 0.0
        self.proba_ = posterior
        self.labels_ = labels
        self.confidence_ = confidence
        self.worker_accuracy_ = np.einsum("wkk,k->w", self.worker_confusion_, self.class_prior_)


def clamp_gold(posterior: np.ndarray, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Gold items' posterior is their known answer."""
    g_items, g_labels = gold
    if g_items.size:
        posterior[g_items] = 0.0
        posterior[g_items, g_labels] = 1.0
    return posterior
