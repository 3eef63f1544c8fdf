"""Adaptive allocation of a pricing experiment's objects to its arms (`allocation: thompson`).

After a warm-up in which every arm gets the same number of objects, the rest are allocated in
rounds. Before each round, Thompson sampling: draws from each arm's accuracy posterior (Jeffreys
Beta on effective counts, as the recommendation's confidence uses) are run through the
recommendation's own rule (the cheapest arm per object whose accuracy meets the quality target and
whose objects all finished within the deadline); an arm's share of the round is the share of draws
in which it wins, floored at `min_share` so that every arm stays observed and no object's weight
exceeds 1 / min_share. Each object of the round then goes to an arm drawn with those shares, with a
seeded generator, so a seed repeats the allocation.

Adaptively collected data bias naive estimates: an arm that had bad luck early gets few objects
and keeps its low estimate. `weighted_accuracy` undoes the allocation's dependence on earlier
results by weighting each object by the inverse of the probability with which it was assigned to
its arm (Hajek's inverse-propensity estimator), with a normal interval from its linearised variance.
Pure numpy: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from broker.experiments import stats

DRAWS = 4000  # posterior draws behind one round's shares


@dataclass(frozen=True)
class ArmEvidence:
    """What one arm has shown so far: the inputs of the recommendation rule."""

    correct: float  # effective counts: correct and judged objects over the arm's design effect
    judged: float
    cost_per_object_cents: float  # inf while nothing finished
    on_time: bool  # every object posted so far finished within the deadline of its posting


def win_shares(evidence: list[ArmEvidence], quality_target: float, rng: np.random.Generator) -> np.ndarray:
    """Per arm, the share of posterior draws in which the recommendation rule picks it. A draw in which
    no arm qualifies goes to the arm nearest to qualifying: on time first, then the most accurate draw."""
    k = np.array([e.correct for e in evidence], dtype=float)
    n = np.array([e.judged for e in evidence], dtype=float)
    accuracy = rng.beta(k + 0.5, n - k + 0.5, size=(DRAWS, len(evidence)))
    on_time = np.array([e.on_time for e in evidence])
    cost = np.array([e.cost_per_object_cents for e in evidence], dtype=float)
    qualifies = (accuracy >= quality_target) & on_time
    # cheapest qualifying arm per draw (ties: the earlier arm): its cost, else +inf
    priced = np.where(qualifies, cost, np.inf)
    cheapest = np.argmin(priced, axis=1)
    nearest = np.argmax(accuracy + np.where(on_time, 1.0, 0.0), axis=1)
    picks = np.where(qualifies.any(axis=1), cheapest, nearest)
    return np.bincount(picks, minlength=len(evidence)) / DRAWS


def floored(shares: np.ndarray, min_share: float) -> np.ndarray:
    """Shares mixed with the uniform allocation so that each is at least `min_share`."""
    return min_share + (1.0 - min_share * shares.size) * shares


def draw_arms(shares: np.ndarray, n_objects: int, rng: np.random.Generator) -> np.ndarray:
    """Each of the round's objects' arm, drawn independently with the round's shares."""
    return rng.choice(shares.size, size=n_objects, p=shares / shares.sum())


@dataclass(frozen=True)
class WeightedEstimate:
    estimate: float | None
    low: float | None
    high: float | None


def weighted_accuracy(correct: np.ndarray, propensity: np.ndarray, design_effect: float = 1.0) -> WeightedEstimate:
    """Hajek's inverse-propensity estimate of an arm's accuracy over its judged objects (correct 1 / 0;
    -1 unknown is left out), each weighted by 1 / the probability it was assigned to the arm.

    The 95% interval is Wilson's on the effective number of objects the estimate is worth: p(1 - p)
    over its linearised variance (with the usual n / (n - 1)), or Kish's (sum w)^2 / sum w^2 when every
    judged object is right or every one wrong; divided by the arm's design effect (objects that share
    workers are not independent). With equal weights it is close to the unweighted Wilson interval."""
    judged = correct >= 0
    y, w = correct[judged].astype(float), 1.0 / propensity[judged]
    if not y.size:
        return WeightedEstimate(None, None, None)
    estimate = float(np.sum(w * y) / np.sum(w))
    variance = float(np.sum(w**2 * (y - estimate) ** 2) / np.sum(w) ** 2)
    if y.size > 1:
        variance *= y.size / (y.size - 1)
    spread = estimate * (1 - estimate)
    effective = spread / variance if spread > 0 and variance > 0 else float(np.sum(w) ** 2 / np.sum(w**2))
    effective /= max(design_effect, 1.0)
    low, high = stats.wilson_interval(estimate * effective, effective)
    return WeightedEstimate(estimate, float(low), float(high))
