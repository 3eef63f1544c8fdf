"""Choosing the confidence threshold above which the model's labels are trusted.

Ground Truth picks, on a human-labeled validation set, the confidence level at which machine labels
"meet the accuracy target". A point estimate on a few hundred objects overshoots by chance: 58 right
out of 58 reads as 100% but is consistent with 95%. So each candidate threshold is judged by a
one-sided lower confidence bound on the accuracy of the validation objects at or above it, and the
lowest threshold whose bound reaches the target wins (the most objects machine-labeled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import beta


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold and the evidence for it on the validation set."""

    threshold: float
    n_at_or_above: int
    n_correct: float
    accuracy: float
    lower_bound: float


def clopper_pearson_lower(correct: np.ndarray, total: np.ndarray, level: float) -> np.ndarray:
    """Exact one-sided lower bound of a binomial proportion (0 when nothing is correct)."""
    correct = np.asarray(correct, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    alpha = 1.0 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = beta.ppf(alpha, correct, total - correct + 1.0)
    return np.where(correct > 0, np.nan_to_num(bound, nan=0.0), 0.0)


def wilson_lower(correct: np.ndarray, total: np.ndarray, level: float) -> np.ndarray:
    """Wilson score one-sided lower bound of a binomial proportion."""
    correct = np.asarray(correct, dtype=np.float64)
    total = np.maximum(np.asarray(total, dtype=np.float64), 1.0)
    z = ndtri(level)
    p = correct / total
    centre = p + z * z / (2 * total)
    margin = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre - margin) / (1 + z * z / total)


LOWER_BOUNDS = {"clopper-pearson": clopper_pearson_lower, "wilson": wilson_lower}


def choose_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target: float = 0.95,
    level: float = 0.95,
    bound: str = "clopper-pearson",
) -> ThresholdChoice | None:
    """The lowest confidence t such that the objects with confidence >= t are accurate to at least
    `target` with `level` confidence; None when no threshold qualifies.

    `confidence`: the model's confidence per validation object; `correct`: whether its label
    matches the human one (booleans), or the probability that it is right (floats in [0, 1]; the
    bound then treats the expected count of right labels as the binomial count). Objects tied at a
    confidence are always taken together.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if np.any((correct < 0) | (correct > 1)):
        raise ValueError("correct must hold booleans or probabilities in [0, 1]")
    if confidence.shape != correct.shape or confidence.ndim != 1:
        raise ValueError("confidence and correct must be 1-D arrays of the same length")
    if confidence.size == 0:
        return None
    try:
        lower = LOWER_BOUNDS[bound]
    except KeyError:
        raise ValueError(f"unknown bound {bound!r}; known: {', '.join(LOWER_BOUNDS)}") from None
    order = np.argsort(-confidence, kind="stable")
    ranked = confidence[order]
    hits = np.cumsum(correct[order])
    counts = np.arange(1, ranked.size + 1)
    # a cut is only valid after the last of a group of tied confidences
    group_end = np.append(ranked[1:] != ranked[:-1], True)
    bounds = np.where(group_end, lower(hits, counts, level), -np.inf)
    passing = np.flatnonzero(bounds >= target)
    if passing.size == 0:
        return None
    cut = int(passing[-1])
    return ThresholdChoice(
        threshold=float(ranked[cut]),
        n_at_or_above=int(counts[cut]),
        n_correct=float(hits[cut]),
        accuracy=float(hits[cut] / counts[cut]),
        lower_bound=float(bounds[cut]),
    )
