"""Pure-numpy answer consolidation and worker models (scikit-learn-like API).

No I/O, no database, no import of ``broker``: usable on its own.

    import scoring
    est = scoring.estimator("default").fit(items, workers, labels, n_classes=K)
    est.labels_, est.proba_, est.confidence_, est.worker_confusion_, est.worker_accuracy_
"""

from __future__ import annotations

from collections.abc import Callable

from scoring._answers import AnswersError
from scoring._base import Classifier
from scoring.boxes import BoxConsolidator, matched_iou
from scoring.calibration import TemperatureScaling, expected_calibration_error
from scoring.dawid_skene import BayesianDawidSkene, DawidSkene, OneCoin
from scoring.ebcc import EBCC
from scoring.gt_modified import GroundTruthDawidSkene
from scoring.majority import MajorityVote
from scoring.masks import MaskConsolidator, label_mask_from_rgb, mask_iou
from scoring.multilabel import MultiLabel
from scoring.selection import ModelSelection
from scoring.spans import SpanConsolidator, exact_span_matches, f1_from_counts
from scoring.verification import VerificationConsolidator
from scoring.workers import WorkerStats, accuracy_predictive_interval, spammer_score, worker_stats

ESTIMATORS: dict[str, Callable[..., Classifier]] = {
    "majority": MajorityVote,
    "dawid-skene": DawidSkene,
    "one-coin": OneCoin,
    "gt-modified-ds": GroundTruthDawidSkene,
    "bayesian-ds": BayesianDawidSkene,
    "model-selection": ModelSelection,
    "ebcc": EBCC,
}
# Chosen without gold: the worker model with the highest evidence (ELBO) on the answers at hand.
DEFAULT = "model-selection"


def estimator(name: str = "default", **params: object) -> Classifier:
    """A fresh, unfitted estimator by name; ``"default"`` picks its worker model by the evidence of the answers."""
    key = DEFAULT if name == "default" else name
    try:
        factory = ESTIMATORS[key]
    except KeyError:
        known = ", ".join(["default", *ESTIMATORS])
        raise ValueError(f"unknown scoring estimator {name!r}; known: {known}") from None
    return factory(**params)


__all__ = [
    "AnswersError",
    "BayesianDawidSkene",
    "BoxConsolidator",
    "Classifier",
    "DEFAULT",
    "DawidSkene",
    "EBCC",
    "ESTIMATORS",
    "GroundTruthDawidSkene",
    "MajorityVote",
    "MaskConsolidator",
    "ModelSelection",
    "MultiLabel",
    "OneCoin",
    "SpanConsolidator",
    "TemperatureScaling",
    "VerificationConsolidator",
    "WorkerStats",
    "accuracy_predictive_interval",
    "estimator",
    "exact_span_matches",
    "expected_calibration_error",
    "f1_from_counts",
    "label_mask_from_rgb",
    "mask_iou",
    "matched_iou",
    "spammer_score",
    "worker_stats",
]
