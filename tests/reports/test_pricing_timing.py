"""The completion-time model recovers a known price response from Poisson arrivals and predicts
the time to finish at a reward it never saw."""

from __future__ import annotations

import numpy as np
import pytest

from broker import completion as timing

INTERCEPT, SLOPE, EXPECTED = 0.5, 0.6, 10.0


def _arm(rng: np.random.Generator, reward: int, assignments: int) -> timing.RateObservation:
    rate = np.exp(INTERCEPT + SLOPE * np.log(reward / EXPECTED))
    arrivals = np.cumsum(rng.exponential(1 / rate, assignments))
    return timing.observation(reward, EXPECTED, arrivals, 0.0, float(arrivals[-1]))


def test_fit_recovers_a_known_price_response():
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(200):
        model = timing.fit_rate_model([_arm(rng, r, 600) for r in (1, 3, 8)])
        sd = np.sqrt(model.covariance[1, 1])
        covered += abs(model.slope - SLOPE) <= 1.96 * sd
    assert 0.92 <= covered / 200 <= 0.99
    assert model.dispersion == pytest.approx(1.0, abs=0.6)  # Poisson arrivals: no over-dispersion


def test_prediction_at_an_untried_reward():
    rng = np.random.default_rng(4)
    model = timing.fit_rate_model([_arm(rng, r, 600) for r in (1, 3, 8)])
    true_rate = np.exp(INTERCEPT + SLOPE * np.log(5 / EXPECTED))
    prediction = timing.predict_finish(model, 5, EXPECTED, 200, 3, deadline_seconds=600 / true_rate)
    assert prediction.median_seconds == pytest.approx(600 / true_rate, rel=0.1)
    assert prediction.seconds_ci[0] < 600 / true_rate < prediction.seconds_ci[1]
    at_median = timing.predict_finish(model, 5, EXPECTED, 200, 3, deadline_seconds=prediction.median_seconds)
    assert at_median.probability_by_deadline == pytest.approx(0.5, abs=0.01)
    later = timing.predict_finish(model, 5, EXPECTED, 200, 3, deadline_seconds=prediction.seconds_ci[1])
    assert later.probability_by_deadline == pytest.approx(0.975, abs=0.01)


def test_reward_for_a_deadline_is_the_smallest_that_reaches_the_probability():
    rng = np.random.default_rng(5)
    model = timing.fit_rate_model([_arm(rng, r, 600) for r in (1, 3, 8)])
    reward = timing.reward_for_deadline(model, EXPECTED, 200, 3, 300.0, 0.9)
    assert reward is not None and reward > 1
    assert timing.predict_finish(model, reward, EXPECTED, 200, 3, 300.0).probability_by_deadline >= 0.9
    assert timing.predict_finish(model, reward - 1, EXPECTED, 200, 3, 300.0).probability_by_deadline < 0.9
    assert timing.reward_for_deadline(model, EXPECTED, 200, 3, 1e-3, 0.9) is None


def test_no_model_without_a_difference_in_pay():
    rng = np.random.default_rng(6)
    assert timing.fit_rate_model([_arm(rng, 3, 100), _arm(rng, 3, 100)]) is None


def test_bursty_arrivals_widen_the_interval():
    """Work in streaks (ten answers at once) is over-dispersed: the slope's interval widens."""
    rng = np.random.default_rng(7)
    smooth = [_arm(rng, r, 600) for r in (1, 3, 8)]
    bursty = [
        timing.observation(
            o.reward_cents,
            EXPECTED,
            np.repeat(np.sort(rng.uniform(0, o.exposure_seconds, 60)), 10),
            0.0,
            o.exposure_seconds,
        )
        for o in smooth
    ]
    smooth_model, bursty_model = timing.fit_rate_model(smooth), timing.fit_rate_model(bursty)
    assert bursty_model.dispersion > 5 * smooth_model.dispersion
    assert bursty_model.covariance[1, 1] > 5 * smooth_model.covariance[1, 1]
