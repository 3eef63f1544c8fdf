"""Is a 0.9 confidence right 90% of the time? Expected calibration error and temperature scaling."""

from __future__ import annotations

import numpy as np

from scoring._base import normalise_log


def expected_calibration_error(proba: np.ndarray, truth: np.ndarray, n_bins: int = 10) -> float:
    """ECE of the top-class confidence: bin-size-weighted |accuracy - mean confidence| over equal-width bins."""
    proba = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(truth)
    if proba.shape[0] == 0:
        raise ValueError("expected_calibration_error needs at least one item")
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == truth).astype(np.float64)
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    size = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=correct, minlength=n_bins) - np.bincount(bins, weights=confidence, minlength=n_bins)
    )
    return float(gap.sum() / size.sum())


class TemperatureScaling:
    """Post-hoc calibration: posterior ** (1/T), renormalised, with T fitted on gold by log-loss.

    EM posteriors multiply many per-answer likelihoods as if answers were
    independent, so they are usually over-confident (T > 1 softens them).
    Argmax, and so accuracy, is unchanged.
    """

    def __init__(self, bounds: tuple[float, float] = (0.05, 20.0)) -> None:
        self.bounds = bounds

    def fit(self, proba: np.ndarray, truth: np.ndarray) -> TemperatureScaling:
        from scipy.optimize import minimize_scalar  # lazy: scipy.optimize/ndimage cost ~0.5 s of CPU to import

        log_p = np.log(np.maximum(np.asarray(proba, dtype=np.float64), 1e-300))
        truth = np.asarray(truth)
        rows = np.arange(truth.size)

        def log_loss(log_t: float) -> float:
            _, log_norm = normalise_log(log_p / np.exp(log_t))
            return float(-(log_p[rows, truth] / np.exp(log_t) - log_norm).mean())

        lo, hi = np.log(self.bounds[0]), np.log(self.bounds[1])
        self.temperature_ = float(np.exp(minimize_scalar(log_loss, bounds=(lo, hi), method="bounded").x))
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        log_p = np.log(np.maximum(np.asarray(proba, dtype=np.float64), 1e-300))
        posterior, _ = normalise_log(log_p / self.temperature_)
        return posterior
