"""Worker reports on a hand-checked example; calibration error and temperature scaling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

import scoring
from scoring import expected_calibration_error, spammer_score, worker_stats

ITEMS = [0, 0, 0, 1, 1, 1, 2, 2]
WORKERS = [0, 1, 2, 0, 1, 2, 0, 1]
LABELS = [0, 0, 1, 1, 1, 1, 0, 0]


def test_worker_stats_by_hand():
    mv = scoring.MajorityVote().fit(ITEMS, WORKERS, LABELS, n_classes=2)
    assert list(mv.labels_) == [0, 1, 0]
    stats = worker_stats(ITEMS, WORKERS, LABELS, mv, gold_items=[0, 2], gold_labels=[1, 0])
    np.testing.assert_array_equal(stats.n_answers, [3, 3, 2])
    np.testing.assert_allclose(stats.agreement, [1.0, 1.0, 0.5])
    np.testing.assert_array_equal(stats.gold_n, [2, 2, 1])
    np.testing.assert_allclose(stats.gold_accuracy, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(stats.em_accuracy, mv.worker_accuracy_)
    # worker 0 expected correct = P(item0=0) + P(item1=1) + P(item2=0) = 2/3 + 1 + 1
    np.testing.assert_allclose(stats.accuracy_ci_low[0], beta.ppf(0.025, 1 + 8 / 3, 1 + 1 / 3))
    np.testing.assert_allclose(stats.accuracy_ci_high[0], beta.ppf(0.975, 1 + 8 / 3, 1 + 1 / 3))
    assert np.all(stats.accuracy_ci_low < stats.accuracy_ci_high)


def test_worker_without_gold_answers_has_nan_gold_accuracy():
    mv = scoring.MajorityVote().fit(ITEMS, WORKERS, LABELS, n_classes=2)
    stats = worker_stats(ITEMS, WORKERS, LABELS, mv, gold_items=[1], gold_labels=[1])
    np.testing.assert_array_equal(stats.gold_n, [1, 1, 1])
    stats = worker_stats(ITEMS, WORKERS, LABELS, mv)
    assert np.all(np.isnan(stats.gold_accuracy)) and np.all(stats.gold_n == 0)


def test_interval_narrows_with_more_answers():
    items = np.repeat(np.arange(200), 3)
    workers = np.tile([0, 1, 2], 200)
    labels = np.repeat(np.arange(200) % 2, 3)
    est = scoring.estimator("default").fit(np.r_[items, 200], np.r_[workers, 3], np.r_[labels, 1], n_classes=2)
    stats = worker_stats(np.r_[items, 200], np.r_[workers, 3], np.r_[labels, 1], est)
    width = stats.accuracy_ci_high - stats.accuracy_ci_low
    assert width[3] > 3 * width[0]


def test_spammer_score_by_hand():
    perfect = np.eye(3)[None]
    spammer = np.tile([[0.2, 0.5, 0.3]], (3, 1))[None]
    half = np.array([[[1.0, 0.0], [0.5, 0.5]]])
    np.testing.assert_allclose(spammer_score(np.concatenate([perfect, spammer])), [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(spammer_score(half), [0.5])


def test_spammers_get_high_scores_from_a_fit():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 500)
    items = np.repeat(np.arange(500), 4)
    workers = np.tile([0, 1, 2, 3], 500)
    labels = truth[items].copy()
    good_noise = rng.random(items.size) < 0.1
    labels[good_noise] = rng.integers(0, 3, good_noise.sum())
    labels[workers == 3] = rng.integers(0, 3, 500)  # worker 3 answers at random
    est = scoring.estimator("default").fit(items, workers, labels, n_classes=3)
    stats = worker_stats(items, workers, labels, est)
    assert stats.spammer_score[3] > 0.8 and stats.spammer_score[:3].max() < 0.25


def test_expected_calibration_error_by_hand():
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    truth = np.array([0, 1, 0, 1])
    # one item per bin: |1-.9| + |0-.8| + |1-.6| + |1-.7| over 4
    assert expected_calibration_error(proba, truth) == pytest.approx(1.6 / 4)
    assert expected_calibration_error(np.eye(2), np.array([0, 1])) == pytest.approx(0.0)


def test_temperature_scaling_fixes_overconfidence_without_changing_argmax():
    rng = np.random.default_rng(2)
    true_p = rng.uniform(0.5, 1.0, 4000)
    truth = (rng.random(4000) > true_p).astype(int)  # class 0 with probability true_p
    honest = np.stack([true_p, 1 - true_p], axis=1)
    sharpened = honest**4 / (honest**4).sum(axis=1, keepdims=True)
    scaler = scoring.TemperatureScaling().fit(sharpened, truth)
    assert scaler.temperature_ == pytest.approx(4.0, rel=0.15)
    calibrated = scaler.transform(sharpened)
    assert expected_calibration_error(calibrated, truth) < expected_calibration_error(sharpened, truth) / 3
    np.testing.assert_array_equal(calibrated.argmax(axis=1), sharpened.argmax(axis=1))
