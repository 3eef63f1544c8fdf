"""Validated, de-duplicated answers with the sparse design matrices every EM step uses.

The two matrices turn both EM steps into one sparse product each, with no
(answers x K) temporaries:

* ``by_item`` (items x workers*K): row i has a 1 at column ``w*K + l`` for each
  answer ``l`` that worker ``w`` gave to item ``i``. ``by_item @ log_conf_t``
  sums the log-confusion columns of an item's answers (the E-step).
* ``by_worker_label`` (workers*K x items): its transpose. ``by_worker_label @ post``
  gives soft counts ``[w*K + l, k]`` of "worker w said l when truth was k" (the M-step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp


class AnswersError(ValueError):
    """Bad consolidation input; the message names the offending argument."""


def index_array(name: str, values: object) -> np.ndarray:
    """A 1-D array of non-negative integer codes, or an ``AnswersError`` naming ``name``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise AnswersError(f"{name} must be a 1-D array, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0):
            array = array.astype(np.int64)
        else:
            raise AnswersError(f"{name} must hold integer codes, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < 0:
        position = int(np.argmin(array))
        raise AnswersError(f"{name}[{position}] = {array[position]} is negative")
    return array


def _check_bound(name: str, values: np.ndarray, bound: int, bound_name: str) -> None:
    if values.size and values.max() >= bound:
        position = int(np.argmax(values))
        raise AnswersError(f"{name}[{position}] = {values[position]} is >= {bound_name} = {bound}")


def latest_answer_index(items: np.ndarray, workers: np.ndarray, n_workers: int) -> np.ndarray:
    """Indices of the answers to keep, ordered by (item, worker): the last row per pair wins."""
    key = items * np.int64(n_workers) + workers
    if key.size < 2 or bool(np.all(key[1:] > key[:-1])):
        return np.arange(key.size)  # already one answer per pair in (item, worker) order: no sort
    # stable (timsort): near-linear on the usual item-grouped input, and a pair's last row is its run's last
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    last = np.r_[sorted_key[1:] != sorted_key[:-1], True]
    return order if last.all() else order[last]


@dataclass(frozen=True)
class Answers:
    """One answer per (item, worker), sorted by item, plus the EM design matrices."""

    items: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    n_items: int
    n_workers: int
    n_classes: int
    by_item: sp.csr_matrix
    by_worker_label: sp.csr_matrix
    answered: np.ndarray  # (items,) bool: at least one answer
    answered_weight: np.ndarray  # the same as float, for matrix-vector sums over answered items
    _designs: dict = field(default_factory=dict, compare=False, repr=False)

    def design(self, dtype: np.dtype) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``(by_item, by_worker_label)`` holding ``dtype`` ones, built once per dtype.

        A float32 EM needs float32 matrices: scipy would otherwise upcast, and
        copy, the float64 ones on every product.
        """
        dtype = np.dtype(dtype)
        if dtype == self.by_item.dtype:
            return self.by_item, self.by_worker_label
        if dtype not in self._designs:
            self._designs[dtype] = tuple(
                sp.csr_matrix((m.data.astype(dtype), m.indices, m.indptr), shape=m.shape)
                for m in (self.by_item, self.by_worker_label)
            )
        return self._designs[dtype]

    @property
    def n_answers(self) -> int:
        return int(self.items.size)

    def sum_answered(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (items,) or (items, K) over answered items.

        Multiply-and-sum rather than ``weight @ values``: on small vectors a threaded
        BLAS call can cost 100x the arithmetic on a loaded machine.
        """
        if values.ndim == 1:
            return np.multiply(values, self.answered_weight).sum()
        return np.array([np.multiply(values[:, k], self.answered_weight).sum() for k in range(values.shape[1])])

    def log_joint(self, log_conf: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
        """E-step numerator: log prior + sum of log conf[w, :, l] over each item's answers."""
        n_workers, k, _ = log_conf.shape
        log_conf_t = np.ascontiguousarray(log_conf.transpose(0, 2, 1)).reshape(n_workers * k, k)
        joint = self.design(log_conf.dtype)[0] @ log_conf_t
        joint += log_prior
        return joint

    def confusion_counts(self, posterior: np.ndarray) -> np.ndarray:
        """M-step soft counts (workers, true, answered) from item posteriors, in the posteriors' dtype."""
        k = self.n_classes
        flat = self.design(posterior.dtype)[1] @ posterior  # [w*K + l, true]
        return np.ascontiguousarray(flat.reshape(self.n_workers, k, k).transpose(0, 2, 1))

    def correct_counts(self, posterior: np.ndarray) -> np.ndarray:
        """(W, 1, 2) soft counts of each worker's right and wrong answers: all the one-coin model reads.

        One gather and one bincount over the answers instead of the (W*K, items) product of
        ``confusion_counts``, which reads the posteriors in worker order (~7x slower at 10M answers).
        """
        right = posterior.ravel()[self._answer_cells]
        correct = np.bincount(self.workers, weights=right, minlength=self.n_workers).astype(posterior.dtype)
        total = np.bincount(self.workers, minlength=self.n_workers).astype(posterior.dtype)
        return np.stack([correct, total - correct], axis=1)[:, None, :]

    @cached_property
    def _answer_cells(self) -> np.ndarray:
        """Flat index of each answer's (item, label) cell in an (items, K) array."""
        return self.items.astype(np.int64) * self.n_classes + self.labels

    def vote_counts(self) -> np.ndarray:
        """(items, K) number of answers per class."""
        flat = np.bincount(self.items * self.n_classes + self.labels, minlength=self.n_items * self.n_classes)
        return flat.reshape(self.n_items, self.n_classes).astype(np.float64)


def prepare_answers(
    items: object,
    workers: object,
    labels: object,
    n_classes: int,
    n_items: int | None = None,
    n_workers: int | None = None,
    repeats: str = "latest",
) -> Answers:
    """Validate integer-coded answers, keep each worker's latest answer per item, build the design.

    ``repeats="all"`` keeps every row instead (a worker's repeated answers to one item then
    count as independent evidence); benchmarks/scoring.py measures both.
    """
    items_a = index_array("items", items)
    workers_a = index_array("workers", workers)
    labels_a = index_array("labels", labels)
    if not (items_a.size == workers_a.size == labels_a.size):
        raise AnswersError(
            "items, workers and labels must have the same length, got "
            f"{items_a.size}, {workers_a.size}, {labels_a.size}"
        )
    if items_a.size == 0:
        raise AnswersError("no answers to consolidate: items, workers and labels are empty")
    if int(n_classes) < 1:
        raise AnswersError(f"n_classes must be >= 1, got {n_classes}")
    n_classes = int(n_classes)
    n_items = int(items_a.max()) + 1 if n_items is None else int(n_items)
    n_workers = int(workers_a.max()) + 1 if n_workers is None else int(n_workers)
    _check_bound("items", items_a, n_items, "n_items")
    _check_bound("workers", workers_a, n_workers, "n_workers")
    _check_bound("labels", labels_a, n_classes, "n_classes")

    if repeats == "latest":
        keep = latest_answer_index(items_a, workers_a, n_workers)
    elif repeats == "all":
        keep = np.argsort(items_a, kind="stable")
    else:
        raise AnswersError(f"repeats must be 'latest' or 'all', got {repeats!r}")
    items_a, workers_a, labels_a = items_a[keep], workers_a[keep], labels_a[keep]

    columns = workers_a * n_classes + labels_a
    index_dtype = np.int32 if n_workers * n_classes < 2**31 and items_a.size < 2**31 else np.int64
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(items_a, minlength=n_items), out=indptr[1:])
    by_item = sp.csr_matrix(
        (np.ones(items_a.size), columns.astype(index_dtype), indptr.astype(index_dtype)),
        shape=(n_items, n_workers * n_classes),
    )
    by_worker_label = by_item.T.tocsr()
    answered = np.diff(indptr) > 0
    return Answers(
        items=items_a,
        workers=workers_a,
        labels=labels_a,
        n_items=n_items,
        n_workers=n_workers,
        n_classes=n_classes,
        by_item=by_item,
        by_worker_label=by_worker_label,
        answered=answered,
        answered_weight=answered.astype(np.float64),
    )


def prepare_gold(
    gold_items: object, gold_labels: object, n_items: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validated gold (items, labels); the last row wins for an item listed twice."""
    if gold_items is None and gold_labels is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if gold_items is None or gold_labels is None:
        raise AnswersError("gold_items and gold_labels must be given together")
    g_items = index_array("gold_items", gold_items)
    g_labels = index_array("gold_labels", gold_labels)
    if g_items.size != g_labels.size:
        raise AnswersError(f"gold_items and gold_labels must have the same length, got {g_items.size}, {g_labels.size}")
    _check_bound("gold_items", g_items, n_items, "n_items")
    _check_bound("gold_labels", g_labels, n_classes, "n_classes")
    _, last_from_end = np.unique(g_items[::-1], return_index=True)
    keep = g_items.size - 1 - last_from_end
    return g_items[keep], g_labels[keep]
