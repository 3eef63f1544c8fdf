"""How fast work arrives at a reward: a Poisson-rate model fitted to the arms of a pricing experiment,
used by its report and by `broker estimate --timing-from` (so it sits below both).

After Faridani, Hartmann and Ipeirotis ("What's the right price? Pricing tasks for finishing on
time", 2011): the rate at which assignments are done is log-linear in the pay per expected second
of work,

    assignments per second = exp(a) * (reward cents / expected seconds) ** b,

fitted by Poisson maximum likelihood with each arm's working time as exposure. Work arrives in
bursts (a worker does a streak of HITs), so the counts are over-dispersed: the dispersion is
measured within arms (counts in equal time bins) and widens every interval (quasi-Poisson). The
time to finish N objects x k answers is then log-normal around N k / rate, which gives the chance
to finish by a deadline and the reward needed to finish by it with a stated probability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

BINS = 10  # time bins per arm for the dispersion of arrivals
MAX_REWARD_CENTS = 1000  # the search for a reward stops here


@dataclass(frozen=True)
class RateObservation:
    """One arm's work: how much arrived over how long, at what pay."""

    reward_cents: int
    expected_seconds: float  # typical work time of one assignment
    assignments: int
    exposure_seconds: float  # from its first accepted assignment to its last answer (or the end)
    bin_counts: np.ndarray  # answers per equal time bin of the exposure


def observation(
    reward_cents: int, expected_seconds: float, submit_seconds: np.ndarray, start: float, end: float
) -> RateObservation:
    """An arm's observation from its answers' times (seconds after posting); work ran from `start` to `end`."""
    exposure = max(end - start, 1e-9)
    counts = np.histogram(submit_seconds, bins=BINS, range=(start, start + exposure))[0]
    return RateObservation(reward_cents, expected_seconds, int(submit_seconds.size), exposure, counts)


@dataclass(frozen=True)
class RateModel:
    intercept: float  # a: log assignments per second at 1 cent per expected second
    slope: float  # b: elasticity of the rate with respect to pay
    covariance: np.ndarray  # 2 x 2, of (a, b), dispersion included
    dispersion: float  # variance / mean of arrivals per bin (1: Poisson)

    def as_json(self) -> dict[str, Any]:
        return {
            "intercept": round(self.intercept, 6),
            "slope": round(self.slope, 6),
            "covariance": [[float(f"{v:.6g}") for v in row] for row in self.covariance],
            "dispersion": round(self.dispersion, 4),
        }

    def log_rate(self, reward_cents: np.ndarray | float, expected_seconds: float) -> np.ndarray:
        x = np.log(np.asarray(reward_cents, dtype=float) / expected_seconds)
        return self.intercept + self.slope * x

    def log_rate_sd(self, reward_cents: np.ndarray | float, expected_seconds: float) -> np.ndarray:
        x = np.log(np.asarray(reward_cents, dtype=float) / expected_seconds)
        design = np.stack([np.ones_like(x), x], axis=-1)
        return np.sqrt(np.einsum("...i,ij,...j->...", design, self.covariance, design))


def dispersion(observations: list[RateObservation]) -> float:
    """Pooled variance-to-mean ratio of the arms' binned arrival counts (at least 1)."""
    ratios, weights = [], []
    for obs in observations:
        mean = obs.bin_counts.mean()
        if mean > 0 and obs.bin_counts.size > 1:
            ratios.append(obs.bin_counts.var(ddof=1) / mean)
            weights.append(obs.bin_counts.size - 1)
    return max(1.0, float(np.average(ratios, weights=weights))) if ratios else 1.0


def local_dispersion(counts: np.ndarray) -> float:
    """Variance-to-mean ratio of arrival counts in successive bins, from their successive differences
    (von Neumann), so that a rate that rises or falls over the run does not count as noise (at least 1)."""
    counts = np.asarray(counts, dtype=float)
    mean = counts.mean() if counts.size else 0.0
    if counts.size < 3 or mean <= 0:
        return 1.0
    return max(1.0, float(np.mean(np.diff(counts) ** 2) / 2 / mean))


def fit_rate_model(observations: list[RateObservation], iterations: int = 50) -> RateModel | None:
    """Poisson regression of assignments on log pay per expected second, log exposure as offset
    (Newton's method); None when the arms do not differ in pay or saw no work."""
    usable = [o for o in observations if o.exposure_seconds > 0]
    x = np.array([np.log(o.reward_cents / o.expected_seconds) for o in usable])
    y = np.array([o.assignments for o in usable], dtype=float)
    offset = np.log([o.exposure_seconds for o in usable])
    if len(usable) < 2 or np.ptp(x) == 0 or y.sum() == 0:
        return None
    design = np.column_stack([np.ones_like(x), x])
    theta = np.array([np.log(y.sum() / np.exp(offset).sum()), 0.0])
    for _ in range(iterations):
        mu = np.exp(offset + design @ theta)
        information = design.T @ (design * mu[:, None])
        step = np.linalg.solve(information, design.T @ (y - mu))
        theta = theta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = np.exp(offset + design @ theta)
    phi = dispersion(usable)
    covariance = phi * np.linalg.inv(design.T @ (design * mu[:, None]))
    return RateModel(float(theta[0]), float(theta[1]), covariance, phi)


@dataclass(frozen=True)
class FinishPrediction:
    """Time to finish `objects` x `answers` assignments at a reward (seconds after posting)."""

    reward_cents: int
    objects: int
    answers_per_object: int
    median_seconds: float
    seconds_ci: list[float]  # 95%
    probability_by_deadline: float
    deadline_seconds: float


def _log_time(model: RateModel, reward: np.ndarray, expected: float, work: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of log(time to finish `work` assignments): the rate's uncertainty plus the count's."""
    mean = np.log(work) - model.log_rate(reward, expected)
    sd = np.sqrt(model.log_rate_sd(reward, expected) ** 2 + model.dispersion / work)
    return mean, sd


def predict_finish(
    model: RateModel, reward_cents: int, expected_seconds: float, objects: int, answers: int, deadline_seconds: float
) -> FinishPrediction:
    mean, sd = _log_time(model, np.array(float(reward_cents)), expected_seconds, objects * answers)
    z = float(stats.norm.ppf(0.975))
    return FinishPrediction(
        reward_cents,
        objects,
        answers,
        round(float(np.exp(mean)), 1),
        [round(float(np.exp(mean - z * sd)), 1), round(float(np.exp(mean + z * sd)), 1)],
        round(float(stats.norm.cdf((np.log(deadline_seconds) - mean) / sd)), 4),
        deadline_seconds,
    )


def reward_for_deadline(
    model: RateModel, expected_seconds: float, objects: int, answers: int, deadline_seconds: float, probability: float
) -> int | None:
    """The smallest reward in cents that finishes by the deadline with `probability` (None: none up to
    MAX_REWARD_CENTS does, e.g. pay does not speed work up in this model)."""
    rewards = np.arange(1, MAX_REWARD_CENTS + 1, dtype=float)
    mean, sd = _log_time(model, rewards, expected_seconds, objects * answers)
    reach = stats.norm.cdf((np.log(deadline_seconds) - mean) / sd) >= probability
    return int(rewards[np.argmax(reach)]) if reach.any() else None


@dataclass(frozen=True)
class FittedCompletion:
    """A rate model with what it was fitted on: the typical work time and the rewards tried."""

    model: RateModel
    expected_seconds: float
    rewards_tried: list[int]


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(f"{where}: {key} must be a number")
    return float(value)


def fitted_completion_from_json(data: Any, where: str) -> FittedCompletion:
    """The model of an experiment report's JSON (`broker experiment pricing SPEC --report --json`): the
    whole report or its `completion_model`; ValueError names what is missing (`where`: the file)."""
    if isinstance(data, Mapping) and "completion_model" in data:
        data = data["completion_model"]
        if data is None:
            raise ValueError(f"{where}: the experiment has no completion model (its arms saw no work, or one reward)")
    if not isinstance(data, Mapping) or "intercept" not in data:
        raise ValueError(
            f"{where}: not an experiment report (no completion_model; make one with "
            "`broker experiment pricing SPEC --report --json`)"
        )
    covariance = np.asarray(data.get("covariance"), dtype=float) if data.get("covariance") is not None else None
    if covariance is None or covariance.shape != (2, 2) or not np.isfinite(covariance).all():
        raise ValueError(f"{where}: completion_model.covariance must be a 2 x 2 matrix of numbers")
    expected = _number(data, "expected_seconds", where)
    if expected <= 0:
        raise ValueError(f"{where}: completion_model.expected_seconds must be positive")
    arms = data.get("arms") or []
    tried = sorted(int(arm["reward_cents"]) for arm in arms if isinstance(arm, Mapping) and "reward_cents" in arm)
    model = RateModel(
        _number(data, "intercept", where),
        _number(data, "slope", where),
        covariance,
        max(1.0, _number(data, "dispersion", where)),
    )
    return FittedCompletion(model, expected, tried)
