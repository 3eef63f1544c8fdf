"""Choosing the confidence threshold above which the model's labels are trusted.

Ground Truth picks, on a human-labeled validation set, the confidence level at which machine labels
"meet the accuracy target". A point estimate on a few hundred objects overshoots by chance: 58 right
out of 58 reads as 100% but is consistent with 95%. So each candidate threshold is judged by a
one-sided lower confidence bound on the accuracy of the validation objects at or above it, and the
lowest threshold whose bound reaches the target, walking down from the most confident objects and
stopping at the first threshold that fails, wins (the most objects machine-labeled).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Evidence:
    """Validation objects already judged in earlier iterations (their twins are machine-labeled):
    pooling them with this iteration's makes the bound hold for every machine label so far, not
    only for this iteration's, on up to the whole validation set instead of its shrinking rest."""

    agree: np.ndarray = field(default_factory=lambda: np.zeros(0))  # model label == crowd label
    crowd_confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the crowd label's confidence

    def sums(self, n_classes: int) -> tuple[float, float, float, int]:
        """(agreements, chance agreements, informative weight, count), as choose_threshold_noisy sums them."""
        crowd = np.clip(np.asarray(self.crowd_confidence, dtype=np.float64), 0.0, 1.0)
        chance = (1.0 - crowd) / max(n_classes - 1, 1)
        return float(np.sum(self.agree)), float(chance.sum()), float((crowd - chance).sum()), int(crowd.size)


NO_EVIDENCE = Evidence()


@dataclass
class ErrorBudget:
    """One job's chance of a wrong claim, `alpha`, shared by all of its threshold tests.

    The j-th test has its own share alpha / 2**j (the shares add up to alpha however many tests the
    job runs) plus whatever the test before it passed on: a test that made its claim hands its whole
    level on to the next one, a test that failed has used its share up. This is the fallback
    procedure (Wiens 2003) over the tests in the order they run; it keeps the chance that ANY test
    of the job makes a wrong claim at most alpha, so the last claim, the one that covers every
    machine label, is wrong with at most that chance. With `shared` False every test gets all of
    alpha (each iteration on its own: over k tests the chance of some wrong claim can reach k x alpha).
    """

    alpha: float
    shared: bool = True
    tests: int = 0
    carried: float = 0.0

    def next_alpha(self) -> float:
        """The error the next test may risk (its level is 1 minus this)."""
        if not self.shared:
            return self.alpha
        return self.alpha * 0.5 ** (self.tests + 1) + self.carried

    def book(self, alpha: float, passed: bool) -> None:
        """Record a test run at `alpha` and whether it made its claim."""
        self.tests += 1
        self.carried = alpha if passed and self.shared else 0.0


def predicted_pass(
    evidence_confidence: np.ndarray,
    gate_confidence: np.ndarray,
    gate_correct: np.ndarray,
    target: float = 0.95,
    level: float = 0.95,
    bound: str = "clopper-pearson",
    earlier: int = 0,
) -> bool:
    """Whether a threshold test is worth its share of the error budget: would it pass if the model
    were as accurate on the test's evidence as it is on other, independent objects?

    For each candidate threshold t, the test would judge the `evidence_confidence` objects at or
    above t (their confidences only: no label of the test's evidence is read) plus `earlier`
    objects already counted; the model's accuracy above t is estimated on the gate objects
    (`gate_confidence`, `gate_correct`: other human-labeled objects judged out-of-fold) as the
    median of its Clopper-Pearson interval (few gate objects above t give a low estimate). The test
    is predicted to pass when, at some t, that accuracy over the test's count clears the bound.
    Because the decision reads nothing the test reads, skipping a test spends nothing of the budget.
    """
    evidence = np.sort(np.asarray(evidence_confidence, dtype=np.float64))[::-1]
    gate_confidence = np.asarray(gate_confidence, dtype=np.float64)
    gate_correct = np.asarray(gate_correct, dtype=np.float64)
    if evidence.size == 0 or gate_confidence.size == 0:
        return False
    order = np.argsort(-gate_confidence, kind="stable")
    ranked, right = gate_confidence[order], np.cumsum(gate_correct[order])
    thresholds = np.unique(evidence)
    n_gate = np.searchsorted(-ranked, -thresholds, side="right")  # gate objects with confidence >= t
    right_above = np.where(n_gate > 0, right[np.maximum(n_gate - 1, 0)], 0.0)
    accuracy = clopper_pearson_lower(right_above, np.maximum(n_gate, 1), 0.5) * (n_gate > 0)
    n_test = earlier + np.searchsorted(-evidence, -thresholds, side="right")
    lower = LOWER_BOUNDS[bound]
    return bool(np.any(lower(accuracy * n_test, n_test, level) >= target))


def choose_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target: float = 0.95,
    level: float = 0.95,
    bound: str = "clopper-pearson",
    earlier: Evidence = NO_EVIDENCE,
) -> ThresholdChoice | None:
    """The lowest confidence t such that the objects with confidence >= t are accurate to at least
    `target` with `level` confidence (walking down from the top, up to the first t that fails after
    one has passed); None when no threshold qualifies.

    `confidence`: the model's confidence per validation object; `correct`: whether its label
    matches the human one (booleans), or the probability that it is right (floats in [0, 1]; the
    bound then treats the expected count of right labels as the binomial count). Objects tied at a
    confidence are always taken together. `earlier`'s objects are added to every top-k.
    """
    confidence, correct = _checked(confidence, correct)
    if confidence.size == 0:
        return None
    order = np.argsort(-confidence, kind="stable")
    count0 = earlier.agree.size
    hits = float(np.sum(earlier.agree)) + np.cumsum(correct[order])
    totals = count0 + np.arange(1, confidence.size + 1, dtype=np.float64)
    return _lowest_passing(confidence[order], hits, target, level, bound, totals=totals, accuracy=hits / totals)


def choose_threshold_noisy(
    confidence: np.ndarray,
    agree: np.ndarray,
    crowd_confidence: np.ndarray,
    n_classes: int,
    target: float = 0.95,
    level: float = 0.95,
    bound: str = "clopper-pearson",
    earlier: Evidence = NO_EVIDENCE,
) -> ThresholdChoice | None:
    """choose_threshold against the truth when the validation labels come from a noisy crowd.

    Agreement with crowd labels that are right only 90% of the time can never show 95%: a perfect
    model would look 90% accurate. With the crowd's label right with probability h (its consolidated
    confidence) and errors spread evenly over the other K-1 classes, a model of accuracy a agrees
    with it with probability a*d + (1-h)/(K-1), where d = h - (1-h)/(K-1). Summed over the top-k
    objects this gives the moment estimate a = (agreements - sum (1-h)/(K-1)) / sum d, whose
    spread is that of a binomial over n_eff = (sum d)^2 / k objects; the lower bound is taken on
    a * n_eff right out of n_eff. With confidence-1 crowd labels this is plain agreement (Ground
    Truth's definition). It assumes the crowd's confidence is calibrated and that the model's
    mistakes are independent of the crowd's. `earlier`'s objects are added to every top-k.
    """
    confidence, agree = _checked(confidence, agree)
    crowd_confidence = np.clip(np.asarray(crowd_confidence, dtype=np.float64), 0.0, 1.0)
    if confidence.shape != crowd_confidence.shape:
        raise ValueError("crowd_confidence must have one value per validation object")
    if confidence.size == 0:
        return None
    order = np.argsort(-confidence, kind="stable")
    agree0, chance0, informative0, count0 = earlier.sums(n_classes)
    chance = (1.0 - crowd_confidence[order]) / max(n_classes - 1, 1)
    informative = informative0 + np.cumsum(crowd_confidence[order] - chance)
    counts = count0 + np.arange(1, confidence.size + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.clip((agree0 + np.cumsum(agree[order]) - chance0 - np.cumsum(chance)) / informative, 0.0, 1.0)
        n_effective = np.where(informative > 0, informative**2 / counts, 0.0)
    accuracy = np.nan_to_num(accuracy, nan=0.0)
    return _lowest_passing(
        confidence[order], accuracy * n_effective, target, level, bound, totals=n_effective, accuracy=accuracy
    )


def _checked(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.shape != correct.shape or confidence.ndim != 1:
        raise ValueError("confidence and correct must be 1-D arrays of the same length")
    if np.any((correct < 0) | (correct > 1)):
        raise ValueError("correct must hold booleans or probabilities in [0, 1]")
    return confidence, correct


def _lowest_passing(
    ranked: np.ndarray,
    hits: np.ndarray,
    target: float,
    level: float,
    bound: str,
    totals: np.ndarray | None = None,
    accuracy: np.ndarray | None = None,
) -> ThresholdChoice | None:
    """The largest top-k (confidence sorted descending) whose lower bound reaches `target`, before
    the first top-k that fails after one has passed; `totals` (default k) is the binomial size the
    bound uses for each top-k."""
    try:
        lower = LOWER_BOUNDS[bound]
    except KeyError:
        raise ValueError(f"unknown bound {bound!r}; known: {', '.join(LOWER_BOUNDS)}") from None
    counts = np.arange(1, ranked.size + 1)
    totals = counts.astype(np.float64) if totals is None else totals
    accuracy = hits / counts if accuracy is None else accuracy
    # a cut is only valid after the last of a group of tied confidences
    group_end = np.append(ranked[1:] != ranked[:-1], True)
    bounds = np.where(group_end & (totals > 0), lower(hits, totals, level), -np.inf)
    passing = bounds >= target
    if not passing.any():
        return None
    # Walk down from the most confident cut; stop at the first valid cut that fails once one has
    # passed. Keeping the last passing cut anywhere would pick the luckiest fluctuation.
    first = int(np.argmax(passing))
    failing = np.flatnonzero(np.isfinite(bounds) & ~passing & (np.arange(passing.size) > first))
    end = int(failing[0]) if failing.size else passing.size
    cut = int(np.flatnonzero(passing[:end])[-1])
    return ThresholdChoice(
        threshold=float(ranked[cut]),
        n_at_or_above=int(counts[cut]),
        n_correct=float(accuracy[cut] * counts[cut]),
        accuracy=float(accuracy[cut]),
        lower_bound=float(bounds[cut]),
    )
