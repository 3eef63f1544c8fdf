"""From each arm's objects to what a pricing experiment concludes: per-arm estimates with intervals,
differences between arms with their tests, a recommendation that says how sure it is, and a power
analysis. Pure: arrays in, plain data out (the DB is read in broker.experiments.pricing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from broker import completion as timing
from broker.experiments import allocation, stats

DRAWS = 4000  # posterior draws behind a recommendation's confidence


@dataclass(frozen=True)
class ArmData:
    """One arm's objects as arrays: what the statistics are computed from."""

    arm: str
    job: str
    reward_cents: int
    workers_per_object: int
    seconds: np.ndarray  # per object: posting to its last needed answer, or to the end of observation
    finished: np.ndarray  # per object: had all its answers (False: censored at `seconds`)
    correct: np.ndarray  # per object: 1 right, 0 wrong, -1 unknown (no truth, or not consolidated)
    cost_cents: np.ndarray  # per object: what its assignments cost, fees included (bonuses spread over them)
    confidence: np.ndarray  # per object: the consolidation's confidence, NaN when none
    assignments: int
    observed_seconds: float  # posting to the end of observation
    median_hourly_wage_cents: float | None = None
    accept_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per answer, after posting
    object_workers: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))  # objects x answers
    submit_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # allocation: thompson: per object, the probability with which it was assigned to this arm
    propensity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    round_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per object: its round
    answer_round: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per answer: its round


@dataclass(frozen=True)
class ArmResult:
    """One arm's figures; every interval is 95% and [low, high] (None when not estimable)."""

    arm: str
    job: str
    reward_cents: int
    workers_per_object: int
    objects: int
    completed: int
    censored: int
    accuracy: float | None  # against known answers, else mean consolidation confidence
    accuracy_ci: list[float] | None
    accuracy_source: str  # "gold" or "confidence"
    judged: int  # consolidated objects with a known answer
    correct: int
    design_effect: float  # variance of accuracy over the binomial one: how much the workers' clustering adds
    spent_cents: int
    cost_per_object_cents: float | None
    cost_per_object_cents_ci: list[float | None] | None
    cost_per_correct_cents: float | None
    cost_per_correct_cents_ci: list[float | None] | None
    median_completion_seconds: float | None
    median_completion_seconds_ci: list[float | None] | None
    seconds_to_half: float | None
    seconds_to_all: float | None
    finished_by_deadline: float  # Kaplan-Meier share of objects finished by the deadline
    objects_per_hour: float | None  # throughput over the time the arm was observed
    assignments_per_hour: float | None
    median_hourly_wage_cents: float | None
    # allocation: thompson: accuracy with each object weighted by 1 / its assignment probability (Hajek)
    accuracy_weighted: float | None = None
    accuracy_weighted_ci: list[float | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _interval(low: float | None, high: float | None, digits: int = 4) -> list[float | None] | None:
    return None if low is None and high is None else [_round(low, digits), _round(high, digits)]


def _time_to_all(data: ArmData) -> float | None:
    return float(data.seconds.max()) if data.seconds.size and data.finished.all() else None


def _design_effect(data: ArmData) -> float:
    """How much the workers' sharing of objects inflates the variance of this arm's accuracy (sandwich)."""
    if data.object_workers.shape[0] != int(data.seconds.size):
        return 1.0
    return stats.design_effect(data.correct, data.object_workers)


@dataclass(frozen=True)
class IntervalMethod:
    """What the intervals let vary, as it varies between runs of the same experiment.

    accuracy (and cost per correct label): "sandwich" is a bootstrap over objects with the design
    effect of a network-robust sandwich over the workers objects share (stats.design_effect: an
    object's own noise once, every pair of objects that share a worker); "two-way" resamples objects
    and the workers who answered them (stats.two_way_weights, first-order weights), "two-way-product"
    the same with product weights. The two-way bootstraps count an object's own noise again through
    each of its workers (1 + k times with k answers; 2 ** (k + 1) - 1 times with product weights), so
    they are conservative by construction. completion: "kaplan-meier" is the interval over objects
    alone (the arrivals taken as given); "arrivals" adds the noise of the arrival count up to the median
    (another run's crowd arrives as a process like this one's: Poisson, widened by the over-dispersion
    of arrivals in short bins, measured from successive differences so that the rise and fall of the
    rate over the run is not counted as noise); "workers" adds the spread of the arm's rate when its
    workers are resampled. The defaults are the variants whose coverage came closest to 95% on seeds
    1000-1019 of benchmarks/pricing.py, apart from the seeds its figures are reported on.
    """

    accuracy: str = "sandwich"
    completion: str = "arrivals"


INTERVALS = IntervalMethod()


def _has_workers(data: ArmData) -> bool:
    return data.object_workers.shape[0] == int(data.seconds.size) and bool((data.object_workers >= 0).any())


def _replicate_weights(data: ArmData, rng: np.random.Generator, method: IntervalMethod) -> np.ndarray:
    workers = data.object_workers
    if method.accuracy == "sandwich" or not _has_workers(data):
        workers = np.full((int(data.seconds.size), 0), -1, dtype=np.int64)
    return stats.two_way_weights(workers, rng, combine="product" if method.accuracy.endswith("product") else "additive")


def _rate_log_variance(
    data: ArmData, median_seconds: float | None, rng: np.random.Generator, method: IntervalMethod
) -> float:
    """The variance of the log of the arm's rate of work from run to run that one run's objects do not show."""
    variance = 0.0
    workers = data.object_workers[data.object_workers >= 0]
    if method.completion == "workers" and workers.size:
        shares = np.bincount(workers).astype(float)
        weights = rng.poisson(1.0, size=(stats.BOOTSTRAP_REPLICATES, shares.size))
        with np.errstate(divide="ignore"):
            ratios = np.log(weights @ shares / shares.sum())
        variance += float(np.var(ratios[np.isfinite(ratios)]))
    if method.completion == "arrivals" and median_seconds and data.submit_seconds.size:
        # the answers up to the median: their count's noise is the time's (a count of M arrivals with
        # dispersion phi reaches M within a relative sd of sqrt(phi / M))
        start = float(data.accept_seconds.min()) if data.accept_seconds.size else 0.0
        early = data.submit_seconds[data.submit_seconds <= median_seconds]
        if early.size and median_seconds > start:
            counts = np.histogram(early, bins=timing.BINS * 2, range=(start, median_seconds))[0]
            variance += timing.local_dispersion(counts) / early.size
    return variance


def _completion_interval(
    median: float | None, low: float | None, high: float | None, extra_log_variance: float
) -> tuple[float | None, float | None]:
    """The Kaplan-Meier interval of the median, widened on the log scale by the run-to-run variance of the
    rate of work (its half-widths read as normal errors of log time, the two added in quadrature)."""
    if median is None or low is None or high is None or extra_log_variance <= 0 or min(median, low) <= 0:
        return low, high
    z = 1.959964
    down, up = np.log(median / low) / z, np.log(high / median) / z
    return (
        float(median * np.exp(-z * np.sqrt(down**2 + extra_log_variance))),
        float(median * np.exp(z * np.sqrt(up**2 + extra_log_variance))),
    )


def arm_result(
    data: ArmData, deadline_seconds: float, rng: np.random.Generator, method: IntervalMethod = INTERVALS
) -> ArmResult:
    """Point estimates and intervals of one arm (a bootstrap with `rng`; what it resamples: `method`), the
    completion interval widened by the run-to-run variation of the arrival of work."""
    n = int(data.seconds.size)
    known = data.correct >= 0
    judged, right = int(known.sum()), int((data.correct == 1).sum())
    done = data.finished.astype(float)
    spent = int(round(float(data.cost_cents.sum())))
    weights = _replicate_weights(data, rng, method)
    per_object = stats.weighted_ratio(data.cost_cents, done, weights)
    # per correct label = per object / accuracy; a resample's accuracy is over its judged objects
    hits = stats.weighted_ratio((data.correct == 1).astype(float), known.astype(float), weights)
    per_correct = per_object / np.where(hits > 0, hits, np.nan) if judged else np.full(weights.shape[0], np.nan)
    if method.accuracy == "sandwich" or not _has_workers(data):  # without workers, Wilson as it is
        effect = _design_effect(data)
        spread = np.sqrt(effect)  # the object bootstrap's interval of cost per correct label, widened
    else:  # the resampled accuracies' variance over the binomial one
        p = right / judged if judged else 0.0
        binomial = p * (1 - p) / judged if judged else 0.0
        finite = hits[np.isfinite(hits)]
        effect = max(1.0, float(np.var(finite)) / binomial) if binomial > 0 and finite.size > 1 else 1.0
        spread = 1.0
    # the Wilson interval on effective counts: objects that share workers count for less
    accuracy_ci = _interval(*stats.wilson_interval(right / effect, judged / effect)) if judged else None
    if judged:
        accuracy, source = right / judged, "gold"
    else:
        confident = data.confidence[np.isfinite(data.confidence)]
        accuracy, source = (float(confident.mean()) if confident.size else None), "confidence"
    completed = int(data.finished.sum())
    weighted = (
        allocation.weighted_accuracy(data.correct, data.propensity, effect)
        if data.propensity.size == n and n
        else allocation.WeightedEstimate(None, None, None)
    )
    cost_per_object = spent / completed if completed else None
    cost_per_correct = cost_per_object / accuracy if cost_per_object is not None and accuracy else None
    curve = stats.kaplan_meier(data.seconds, data.finished)
    median, median_low, median_high = stats.survival_quantile(curve, 0.5)
    median_low, median_high = _completion_interval(
        median, median_low, median_high, _rate_log_variance(data, median, rng, method)
    )
    hours = data.observed_seconds / 3600 if data.observed_seconds > 0 else None
    return ArmResult(
        arm=data.arm,
        job=data.job,
        reward_cents=data.reward_cents,
        workers_per_object=data.workers_per_object,
        objects=n,
        completed=completed,
        censored=n - completed,
        accuracy=_round(accuracy),
        accuracy_ci=accuracy_ci,
        accuracy_source=source,
        judged=judged,
        correct=right,
        design_effect=round(effect, 3),
        spent_cents=spent,
        cost_per_object_cents=_round(cost_per_object),
        cost_per_object_cents_ci=_interval(*stats.percentile_interval(per_object)) if completed else None,
        cost_per_correct_cents=_round(cost_per_correct),
        cost_per_correct_cents_ci=_interval(
            *stats.widen(cost_per_correct, *stats.percentile_interval(per_correct), spread)
        )
        if judged
        else None,
        median_completion_seconds=_round(median, 1),
        median_completion_seconds_ci=_interval(median_low, median_high, 1) if median is not None else None,
        seconds_to_half=_round(median, 1),
        seconds_to_all=_round(_time_to_all(data), 1),
        finished_by_deadline=round(1.0 - curve.at(deadline_seconds), 4),
        objects_per_hour=_round(completed / hours, 2) if hours else None,
        assignments_per_hour=_round(data.assignments / hours, 2) if hours else None,
        median_hourly_wage_cents=_round(data.median_hourly_wage_cents, 1),
        accuracy_weighted=_round(weighted.estimate),
        accuracy_weighted_ci=_interval(weighted.low, weighted.high) if weighted.estimate is not None else None,
    )


# --------------------------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Comparison:
    """Arm `arm` against the reference arm: differences (arm minus reference) with intervals and tests."""

    arm: str
    reference: str
    accuracy_difference: float | None
    accuracy_difference_ci: list[float | None] | None
    accuracy_p_value: float | None
    accuracy_test: str
    cost_per_correct_difference_cents: float | None
    cost_per_correct_difference_cents_ci: list[float | None] | None
    cost_test: str
    completion_p_value: float | None
    completion_test: str


def _effective(data: ArmData, design_effect: float) -> tuple[int, int]:
    """Correct and judged objects divided by the design effect: the independent objects they are worth."""
    right, judged = int((data.correct == 1).sum()), int((data.correct >= 0).sum())
    return int(round(right / design_effect)), int(round(judged / design_effect))


def compare(
    reference: ArmData,
    other: ArmData,
    rng: np.random.Generator,
    design_effects: tuple[float, float] = (1.0, 1.0),
    method: IntervalMethod = INTERVALS,
) -> Comparison:
    """Accuracy (Newcombe interval and Fisher's exact test on effective counts), cost per correct label
    (independent bootstrap of each arm over objects and workers), completion curves (log-rank test)."""
    accuracy = stats.proportion_difference(
        *_effective(reference, design_effects[0]), *_effective(other, design_effects[1])
    )
    if accuracy.estimate is not None:  # the interval is centred on the observed difference
        shift = _observed_accuracy(other) - _observed_accuracy(reference) - accuracy.estimate
        accuracy = stats.Difference(
            accuracy.estimate + shift, accuracy.low + shift, accuracy.high + shift, accuracy.p_value, accuracy.test
        )
    costs = [_cost_per_correct_replicates(data, rng, method) for data in (reference, other)]
    difference = costs[1] - costs[0]
    point = _cost_per_correct(other), _cost_per_correct(reference)
    return Comparison(
        arm=other.arm,
        reference=reference.arm,
        accuracy_difference=_round(accuracy.estimate),
        accuracy_difference_ci=_interval(accuracy.low, accuracy.high) if accuracy.estimate is not None else None,
        accuracy_p_value=_round(accuracy.p_value),
        accuracy_test=accuracy.test + " on effective counts (judged objects / design effect)",
        cost_per_correct_difference_cents=_round(point[0] - point[1]) if None not in point else None,
        cost_per_correct_difference_cents_ci=_interval(*stats.percentile_interval(difference)),
        cost_test=(
            "95% percentile bootstrap interval (objects resampled within each arm, spread by its design effect)"
            if method.accuracy == "sandwich"
            else "95% percentile bootstrap interval (each arm's objects and workers resampled, independently)"
        )
        + "; differs if it excludes 0",
        completion_p_value=_round(
            stats.logrank_p([reference.seconds, other.seconds], [reference.finished, other.finished])
        ),
        completion_test="log-rank test (two-sided; unfinished objects censored)",
    )


def _observed_accuracy(data: ArmData) -> float:
    return float((data.correct == 1).sum()) / max(float((data.correct >= 0).sum()), 1.0)


def _cost_per_correct(data: ArmData) -> float | None:
    right = float((data.correct == 1).sum())
    done = float(data.finished.sum())
    judged = float((data.correct >= 0).sum())
    return float(data.cost_cents.sum()) / done / (right / judged) if right and done and judged else None


def _cost_per_correct_replicates(
    data: ArmData, rng: np.random.Generator, method: IntervalMethod = INTERVALS
) -> np.ndarray:
    weights = _replicate_weights(data, rng, method)
    per_object = stats.weighted_ratio(data.cost_cents, data.finished.astype(float), weights)
    hits = stats.weighted_ratio((data.correct == 1).astype(float), (data.correct >= 0).astype(float), weights)
    point = _cost_per_correct(data)
    if not point:
        return per_object * np.nan
    replicates = per_object / np.where(hits > 0, hits, np.nan)
    if method.accuracy != "sandwich" and _has_workers(data):
        return replicates
    # deviations from the point estimate scaled by the design effect's square root, as the arm's interval is
    return point + (replicates - point) * np.sqrt(_design_effect(data))


# --------------------------------------------------------------------------------------------- recommendation


@dataclass(frozen=True)
class Recommendation:
    arm: str | None
    confidence: float  # the share of posterior draws in which the same rule picks the same arm
    reason: str


def _qualifies(results: list[ArmResult], accuracy: np.ndarray, quality_target: float, deadline: float) -> np.ndarray:
    """draws x arms: the arm meets the quality target (at that draw's accuracy) and finished by the deadline."""
    on_time = np.array(
        [
            r.seconds_to_all is not None and r.seconds_to_all <= deadline and r.cost_per_object_cents is not None
            for r in results
        ]
    )
    return (accuracy >= quality_target) & on_time


def _pick(results: list[ArmResult], qualifies: np.ndarray) -> np.ndarray:
    """Per draw, the index of the cheapest qualifying arm per object (ties: the faster), -1 when none."""
    order = sorted(
        range(len(results)),
        key=lambda i: (results[i].cost_per_object_cents or np.inf, results[i].seconds_to_all or np.inf),
    )
    ranked = qualifies[:, order]
    first = np.argmax(ranked, axis=1)
    return np.where(ranked.any(axis=1), np.asarray(order)[first], -1)


def accuracy_draws(results: list[ArmResult], rng: np.random.Generator, draws: int = DRAWS) -> np.ndarray:
    """draws x arms accuracies from each arm's Jeffreys posterior Beta(k + 1/2, n - k + 1/2), k and n
    divided by the arm's design effect (objects labeled by the same workers are not independent); an arm
    without known answers keeps its point estimate (its mean confidence), or -inf without one."""
    columns = []
    for r in results:
        if r.judged:  # the effective sample: judged objects over the design effect
            k, n = r.correct / r.design_effect, r.judged / r.design_effect
            columns.append(rng.beta(k + 0.5, n - k + 0.5, size=draws))
        else:
            columns.append(np.full(draws, -np.inf if r.accuracy is None else r.accuracy))
    return np.column_stack(columns) if columns else np.zeros((draws, 0))


def sureness(confidence: float) -> str:
    if confidence >= 0.95:
        return "sure"
    if confidence >= 0.8:
        return "fairly sure"
    if confidence >= 0.6:
        return "unsure"
    return "not sure"


def recommend(
    results: list[ArmResult], quality_target: float, deadline_seconds: float, rng: np.random.Generator | None = None
) -> Recommendation:
    """The cheapest arm per object whose accuracy meets the target and that finished by the deadline,
    with how often that same rule picks it when the accuracies are drawn from their posteriors (costs
    and finishing times are taken as observed: they vary far less between runs than accuracy does)."""
    rng = rng or np.random.default_rng(0)
    observed = np.array([[-np.inf if r.accuracy is None else r.accuracy for r in results]])
    chosen = int(_pick(results, _qualifies(results, observed, quality_target, deadline_seconds))[0])
    picks = _pick(results, _qualifies(results, accuracy_draws(results, rng), quality_target, deadline_seconds))
    confidence = round(float(np.mean(picks == chosen)), 3)
    if chosen < 0:
        return Recommendation(
            None,
            confidence,
            f"no arm reached accuracy {quality_target:.0%} and finished within {deadline_seconds:.0f} s "
            f"(in {confidence:.0%} of posterior draws none does either); raise the reward or relax the target",
        )
    best = results[chosen]
    ci = f" [{best.accuracy_ci[0]:.1%}, {best.accuracy_ci[1]:.1%}]" if best.accuracy_ci else " (mean confidence)"
    return Recommendation(
        best.arm,
        confidence,
        f"{sureness(confidence)} ({confidence:.0%} of posterior draws pick it): the cheapest arm at "
        f"${best.cost_per_object_cents / 100:.4f} per object whose accuracy {best.accuracy:.1%}{ci} meets "
        f"the {quality_target:.0%} target and that finished all {best.objects} objects in "
        f"{best.seconds_to_all:.0f} s (deadline {deadline_seconds:.0f} s)",
    )


# --------------------------------------------------------------------------------------------- power


@dataclass(frozen=True)
class PowerAnalysis:
    """Objects per arm needed to tell two arms' accuracies apart by `smallest_difference`."""

    smallest_difference: float
    baseline_accuracy: float
    alpha: float
    target_power: float
    objects_per_arm_needed: int | None
    objects_per_arm: int  # the fewest judged objects of any arm
    power_now: float  # the chance this experiment detects such a difference
    test: str
    statement: str


def power_analysis(
    results: list[ArmResult], smallest_difference: float, quality_target: float, alpha: float = 0.05, power: float = 0.8
) -> PowerAnalysis:
    """At the arms' pooled accuracy (the quality target before any answer), a two-sided test of two
    proportions: objects per arm for `power`, and the power the experiment had."""
    judged = sum(r.judged for r in results)
    baseline = sum(r.correct for r in results) / judged if judged else quality_target
    other = baseline - smallest_difference if baseline - smallest_difference >= 0 else baseline + smallest_difference
    effect = float(np.mean([r.design_effect for r in results])) if results else 1.0
    independent = stats.two_proportion_sample_size(baseline, other, alpha, power)
    needed = int(np.ceil(independent * effect)) if independent is not None else None
    have = min((r.judged for r in results), default=0)
    now = stats.two_proportion_power(int(have / effect), baseline, other, alpha)
    statement = (
        f"with {needed} objects per arm a {smallest_difference * 100:g}-point accuracy difference (around "
        f"{baseline:.0%}) is detected {power:.0%} of the time at alpha {alpha:g}; this experiment has {have} "
        f"per arm, which detects it {now:.0%} of the time"
        + (f" (design effect {effect:.1f}: objects that share workers are not independent)" if effect > 1.05 else "")
    )
    return PowerAnalysis(
        round(smallest_difference, 4),
        round(baseline, 4),
        alpha,
        power,
        needed,
        have,
        round(now, 3),
        "two-sided test of two proportions (normal approximation, Fleiss), objects scaled by the design effect",
        statement,
    )


# --------------------------------------------------------------------------------------------- completion time


def rate_observations(data: list[ArmData]) -> tuple[list[timing.RateObservation], float | None]:
    """Each arm's arrival of work, and the typical work time of one assignment (pooled over arms:
    the same task); an arm's work runs from its first accepted assignment to its last answer."""
    work = np.concatenate([d.submit_seconds - d.accept_seconds for d in data]) if data else np.zeros(0)
    work = work[np.isfinite(work) & (work > 0)]
    if not work.size:
        return [], None
    expected = float(np.median(work))
    observations = [
        timing.observation(
            d.reward_cents, expected, d.submit_seconds, float(d.accept_seconds.min()), float(d.seconds.max())
        )
        for d in data
        if d.accept_seconds.size
    ]
    return observations, expected


def _extrapolation(reward: int | None, tried: list[int]) -> str:
    if reward is None or min(tried) <= reward <= max(tried):
        return ""
    return f" (extrapolated: the arms tried {min(tried)}-{max(tried)} cents)"


def completion_model(
    data: list[ArmData], deadline_seconds: float, objects: int | None, probability: float
) -> dict[str, Any] | None:
    """The fitted rate model, its prediction for each arm (against what happened) and the reward needed
    to finish `objects` (default: the largest arm's) by the deadline with `probability`."""
    observations, expected = rate_observations(data)
    model = timing.fit_rate_model(observations) if expected else None
    if model is None or expected is None:
        return None
    answers = data[0].workers_per_object
    objects = objects or max(int(d.seconds.size) for d in data)
    z = 1.959964  # the 97.5% normal quantile
    slope_sd = float(np.sqrt(model.covariance[1, 1]))
    checks = []
    for d in data:
        predicted = timing.predict_finish(
            model, d.reward_cents, expected, int(d.seconds.size), d.workers_per_object, deadline_seconds
        )
        observed = (
            float(d.seconds.max() - d.accept_seconds.min()) if d.finished.all() and d.accept_seconds.size else None
        )
        checks.append(
            {
                "arm": d.arm,
                "reward_cents": d.reward_cents,
                "predicted_seconds": predicted.median_seconds,
                "predicted_seconds_ci": predicted.seconds_ci,
                "observed_seconds": _round(observed, 1),
            }
        )
    needed = timing.reward_for_deadline(model, expected, objects, answers, deadline_seconds, probability)
    return {
        "form": "assignments per second = exp(intercept) * (reward cents / expected seconds) ** slope; "
        "Poisson regression, over-dispersion measured within arms",
        "intercept": round(model.intercept, 4),
        "slope": round(model.slope, 4),
        "covariance": model.as_json()["covariance"],
        "slope_ci": [round(model.slope - z * slope_sd, 4), round(model.slope + z * slope_sd, 4)],
        "dispersion": round(model.dispersion, 3),
        "expected_seconds": round(expected, 2),
        "arms": checks,
        "reward_needed": {
            "objects": objects,
            "answers_per_object": answers,
            "deadline_seconds": deadline_seconds,
            "probability": probability,
            "reward_cents": needed,
            "statement": (
                f"to finish {objects} objects x {answers} answers within {deadline_seconds:.0f} s of work starting "
                f"with probability {probability:.0%}: "
                + (f"a reward of {needed} cents" if needed else f"no reward up to {timing.MAX_REWARD_CENTS} cents")
                + _extrapolation(needed, [d.reward_cents for d in data])
            ),
        },
    }


# --------------------------------------------------------------------------------------------- together


@dataclass
class ExperimentAnalysis:
    experiment: str
    design: str
    quality_target: float
    deadline_seconds: float
    arms: list[ArmResult]
    curves: dict[str, stats.SurvivalCurve]
    comparisons: list[Comparison]
    recommendation: Recommendation
    power: PowerAnalysis
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the completion-time model

    def as_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "design": self.design,
            "quality_target": self.quality_target,
            "deadline_seconds": self.deadline_seconds,
            "arms": [r.as_dict() for r in self.arms],
            "comparisons": [asdict(c) for c in self.comparisons],
            "recommendation": asdict(self.recommendation),
            "power": asdict(self.power),
            "notes": list(self.notes),
            **self.extra,
        }


DESIGN_NOTES = {
    "simultaneous": "arms were posted at once: they competed for the same workers, who take the better-paid "
    "group first, so a cheap arm runs slower here than it would alone (and its workers are those the "
    "better-paid arms left over)",
    "sequential": "arms were posted one after another: each had the crowd to itself, but at a different time, "
    "so a change in the crowd over time is confounded with the reward",
}


ADAPTIVE_NOTE = (
    "objects were allocated adaptively (Thompson sampling after an equal warm-up): an arm that did badly early "
    "got fewer objects, so its plain accuracy and interval lean low and are conditional on the allocation; "
    "accuracy_weighted weights each object by 1 / the probability it was assigned to its arm, which undoes that "
    "(its interval is wider for an arm that got few objects); no weighting undoes that arms posted at once share "
    "a crowd, so an arm with a small share of the work may draw other workers than it would with a large one; "
    "an object's completion time runs from its own round's posting, and the completion-time model is fitted on "
    "the warm-up round alone"
)


def analyse(
    data: list[ArmData],
    *,
    experiment: str,
    design: str,
    quality_target: float,
    deadline_seconds: float,
    smallest_difference: float,
    seed: int,
    predict_objects: int | None = None,
    predict_probability: float = 0.9,
    method: IntervalMethod = INTERVALS,
    allocation_record: dict[str, Any] | None = None,
    timing_data: list[ArmData] | None = None,
) -> ExperimentAnalysis:
    """Everything the report shows, from the arms' objects; seeded, so it repeats exactly.
    `allocation_record`: how objects were allocated (default: fixed, as dealt); `timing_data`: the
    arms' objects the completion-time model is fitted on (default: all; adaptive: the warm-up's)."""
    results = [arm_result(d, deadline_seconds, np.random.default_rng([seed, 1, i]), method) for i, d in enumerate(data)]
    recommendation = recommend(results, quality_target, deadline_seconds, np.random.default_rng([seed, 2]))
    names = [r.arm for r in results]
    reference = names.index(recommendation.arm) if recommendation.arm in names else 0
    effects = [r.design_effect for r in results]
    comparisons = [
        compare(data[reference], d, np.random.default_rng([seed, 3, i]), (effects[reference], effects[i]), method)
        for i, d in enumerate(data)
        if i != reference
    ]
    return ExperimentAnalysis(
        experiment=experiment,
        design=design,
        quality_target=quality_target,
        deadline_seconds=deadline_seconds,
        arms=results,
        curves={d.arm: stats.kaplan_meier(d.seconds, d.finished) for d in data},
        comparisons=comparisons,
        recommendation=recommendation,
        power=power_analysis(results, smallest_difference, quality_target),
        notes=[DESIGN_NOTES[design]] + ([ADAPTIVE_NOTE] if allocation_record else []),
        extra={
            "allocation": allocation_record
            or {"method": "fixed", "objects": {d.arm: int(d.seconds.size) for d in data}},
            "completion_model": completion_model(
                timing_data or data, deadline_seconds, predict_objects, predict_probability
            ),
        },
    )
