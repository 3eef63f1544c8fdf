"""The statistics of a pricing experiment, as small vectorised functions over per-object arrays.

Accuracy is a binomial proportion (Wilson score interval; differences by Newcombe's hybrid score
interval, tested with Fisher's exact test). Costs are ratios over objects (percentile bootstrap,
resampling objects with a seeded generator). Completion times are survival data: an object not
finished when observation ended is right-censored, so Kaplan-Meier (Greenwood, log-log band) gives
the completion curve and the median with its Brookmeyer-Crowley interval; arms are compared with
the log-rank test. Sample sizes for two proportions follow Fleiss (no continuity correction).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
BOOTSTRAP_REPLICATES = 2000


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson_interval(correct: np.ndarray | int, total: np.ndarray | int, level: float = LEVEL) -> np.ndarray:
    """[low, high] of the Wilson score interval, per row of (correct, total); NaN where total is 0."""
    k, n = np.asarray(correct, dtype=float), np.asarray(total, dtype=float)
    z = _z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.stack([np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)], axis=-1)


@dataclass(frozen=True)
class Difference:
    """A difference between two arms (second minus first) with its interval and a test's p-value."""

    estimate: float | None
    low: float | None
    high: float | None
    p_value: float | None
    test: str


def proportion_difference(k1: int, n1: int, k2: int, n2: int, level: float = LEVEL) -> Difference:
    """p2 - p1 with Newcombe's hybrid score interval (from the two Wilson intervals); Fisher's exact p."""
    test = "Fisher's exact test (two-sided)"
    if n1 == 0 or n2 == 0:
        return Difference(None, None, None, None, test)
    (l1, u1), (l2, u2) = wilson_interval(k1, n1, level), wilson_interval(k2, n2, level)
    p1, p2 = k1 / n1, k2 / n2
    d = p2 - p1
    low = d - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    p_value = float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
    return Difference(float(d), float(low), float(high), p_value, test)


def bootstrap_indices(n: int, rng: np.random.Generator, replicates: int = BOOTSTRAP_REPLICATES) -> np.ndarray:
    """replicates x n object indices drawn with replacement (one resample of the arm per row)."""
    return rng.integers(0, n, size=(replicates, n)) if n else np.zeros((replicates, 0), dtype=np.int64)


def ratio_replicates(numerator: np.ndarray, denominator: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """sum(numerator) / sum(denominator) over each resample (NaN where the denominator sums to 0)."""
    top, bottom = numerator[indices].sum(axis=1), denominator[indices].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


def two_way_weights(
    object_workers: np.ndarray,
    rng: np.random.Generator,
    replicates: int = BOOTSTRAP_REPLICATES,
    combine: str = "product",
) -> np.ndarray:
    """replicates x objects bootstrap weights that resample objects AND workers (a pigeonhole bootstrap,
    Owen 2007; Owen and Eckles 2012).

    Objects and workers each get independent Poisson(1) multiplicities; an object counts by its own
    multiplicity times its workers' (`combine="product"`), or times 1 plus the sum of its workers'
    deviations from 1, floored at 0 (`"additive"`: the first-order term alone). Either way an object
    moves with the workers who answered it, so a worker's errors, repeated over its objects, vary
    together, as they do between runs with different crowds. `object_workers` is objects x answers,
    -1 for none.
    """
    n = int(object_workers.shape[0])
    present = object_workers >= 0
    n_workers = int(object_workers[present].max()) + 1 if present.any() else 0
    objects = rng.poisson(1.0, size=(replicates, n)).astype(float)
    workers = rng.poisson(1.0, size=(replicates, n_workers)).astype(float)
    if not n_workers:
        return objects
    per_answer = np.where(present[None], workers[:, np.where(present, object_workers, 0)], 1.0)
    if combine == "product":
        return objects * per_answer.prod(axis=2)
    return objects * np.maximum(0.0, 1.0 + (per_answer - 1.0).sum(axis=2))


def weighted_ratio(numerator: np.ndarray, denominator: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum(w * numerator) / sum(w * denominator) per row of weights (NaN where the denominator is 0)."""
    top, bottom = weights @ numerator, weights @ denominator
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


def design_effect(correct: np.ndarray, object_workers: np.ndarray) -> float:
    """The variance of an accuracy over the binomial one when objects share workers (at least 1).

    A worker's errors repeat across the objects it answered, so those objects' outcomes are
    correlated. The variance of the mean counts every pair of objects that share a worker (a
    network-robust sandwich): sum over workers of the squared totals of their objects' residuals,
    less the extra copies of each object's own square; over the sum of squares alone (independence).
    `correct` is 1 / 0 / -1 (unknown) per object; `object_workers` objects x answers, -1 for none.
    """
    known = correct >= 0
    if not known.any():
        return 1.0
    residual = np.where(known, correct - correct[known].mean(), 0.0)
    present = (object_workers >= 0) & known[:, None]
    totals = np.bincount(object_workers[present], weights=np.broadcast_to(residual[:, None], present.shape)[present])
    shared = float((totals**2).sum() - ((present.sum(axis=1) - 1) * residual**2).sum())
    independent = float((residual**2).sum())
    return max(1.0, shared / independent) if independent > 0 else 1.0


def widen(estimate: float | None, low: float | None, high: float | None, factor: float) -> tuple:
    """An interval's distances from its estimate scaled by `factor` (a design effect's square root)."""
    if estimate is None or low is None or high is None:
        return low, high
    return estimate - (estimate - low) * factor, estimate + (high - estimate) * factor


def percentile_interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float | None, float | None]:
    """The percentile bootstrap interval of finite replicates (None when fewer than half are finite)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size < max(1, replicates.size // 2):
        return None, None
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class SurvivalCurve:
    """Kaplan-Meier: the share of objects still unfinished after each time, with its pointwise band."""

    times: np.ndarray  # seconds after posting, ascending (event and censoring times)
    unfinished: np.ndarray  # S(t)
    low: np.ndarray
    high: np.ndarray
    events: int  # objects finished
    censored: int  # objects unfinished when observation ended

    def at(self, seconds: float) -> float:
        """S(seconds): the share still unfinished then (1 before the first time)."""
        position = np.searchsorted(self.times, seconds, side="right") - 1
        return 1.0 if position < 0 else float(self.unfinished[position])


def kaplan_meier(durations: np.ndarray, finished: np.ndarray, level: float = LEVEL) -> SurvivalCurve:
    """Kaplan-Meier estimate of completion: `finished[i]` False means object i is censored at durations[i]."""
    durations, finished = np.asarray(durations, dtype=float), np.asarray(finished, dtype=bool)
    if not finished.any():
        times = np.array([durations.max()]) if durations.size else np.zeros(0)
        ones = np.ones(times.size)
        return SurvivalCurve(times, ones, ones, ones, 0, int(durations.size))
    data = stats.CensoredData(uncensored=durations[finished], right=durations[~finished])
    sf = stats.ecdf(data).sf
    with warnings.catch_warnings():  # the band is undefined where S(t) is 0 or 1: it collapses onto S there
        warnings.simplefilter("ignore", RuntimeWarning)
        band = sf.confidence_interval(level, method="log-log")
    unfinished = sf.probabilities
    low = np.where(np.isnan(band.low.probabilities), unfinished, band.low.probabilities)
    high = np.where(np.isnan(band.high.probabilities), unfinished, band.high.probabilities)
    return SurvivalCurve(
        sf.quantiles,
        unfinished,
        low,
        high,
        int(finished.sum()),
        int((~finished).sum()),
    )


def _first_at_or_below(times: np.ndarray, values: np.ndarray, threshold: float) -> float | None:
    below = np.flatnonzero(values <= threshold)
    return float(times[below[0]]) if below.size else None


def survival_quantile(curve: SurvivalCurve, fraction: float = 0.5) -> tuple[float | None, float | None, float | None]:
    """Time by which `fraction` of the objects finish, with the interval where the band crosses it
    (Brookmeyer-Crowley); None where the curve or band never gets there (not estimable yet)."""
    threshold = 1.0 - fraction
    return (
        _first_at_or_below(curve.times, curve.unfinished, threshold),
        _first_at_or_below(curve.times, curve.low, threshold),
        _first_at_or_below(curve.times, curve.high, threshold),
    )


def logrank_p(durations: list[np.ndarray], finished: list[np.ndarray]) -> float | None:
    """Two-sided log-rank p-value of two arms' completion curves (None without an event in both)."""
    if len(durations) != 2 or not all(np.any(f) for f in finished):
        return None
    samples = [stats.CensoredData(uncensored=d[f], right=d[~f]) for d, f in zip(durations, finished)]
    return float(stats.logrank(samples[0], samples[1]).pvalue)


def two_proportion_sample_size(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Objects per arm for a two-sided test at `alpha` to detect p1 vs p2 with `power` (Fleiss)."""
    if p1 == p2:
        return None
    a, b = _z(1 - alpha), float(stats.norm.ppf(power))
    mean = (p1 + p2) / 2
    root = a * np.sqrt(2 * mean * (1 - mean)) + b * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return int(np.ceil(root**2 / (p1 - p2) ** 2))


def two_proportion_power(n: int, p1: float, p2: float, alpha: float = 0.05) -> float:
    """Power of that test with n objects per arm (the inverse of two_proportion_sample_size)."""
    if n <= 0 or p1 == p2:
        return float(alpha) if n > 0 else 0.0
    a = _z(1 - alpha)
    mean = (p1 + p2) / 2
    spread = np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    z = (abs(p1 - p2) * np.sqrt(n) - a * np.sqrt(2 * mean * (1 - mean))) / spread
    return float(stats.norm.cdf(z))
