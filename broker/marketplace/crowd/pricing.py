"""Price sensitivity: how likely a worker is to pick up a HIT group at a given effective wage.

A worker compares the group's wage (reward per expected second of work, as cents per hour)
with its own reservation wage; pickup probability rises smoothly with the ratio, with a
small floor (someone always takes even poor work eventually) and ceiling.
"""

from __future__ import annotations

import numpy as np

PICKUP_FLOOR = 0.02
PICKUP_CEILING = 0.98
WAGE_SLOPE = 2.0  # logistic slope in log-wage units
ARRIVAL_MEAN_SECONDS = 30.0  # simulated: mean time until a worker first shows up
AWAY_MEAN_SECONDS = 300.0  # simulated: mean time a worker stays away after passing on every group
BREAK_MEAN_SECONDS = 60.0  # simulated: mean break after a streak of HITs
BASE_SECONDS_PER_TASK = 8.0  # the crowd's expectation for a single-label classification


def wage_cents_per_hour(reward_cents: int, expected_seconds: float) -> float:
    return reward_cents * 3600.0 / max(expected_seconds, 1e-6)


def pickup_probability(wage: float | np.ndarray, reservation: float) -> float | np.ndarray:
    """P(accept at one look) = floor + (ceiling - floor) * logistic(slope * ln(wage / reservation))."""
    ratio = np.log(np.maximum(np.asarray(wage, dtype=float), 1e-9) / max(reservation, 1e-9))
    p = PICKUP_FLOOR + (PICKUP_CEILING - PICKUP_FLOOR) / (1.0 + np.exp(-WAGE_SLOPE * ratio))
    return float(p) if np.ndim(p) == 0 else p


def streak_probability(pickup: float) -> float:
    """After one HIT, the chance of taking the next one in the same group."""
    return 0.5 + 0.45 * pickup
