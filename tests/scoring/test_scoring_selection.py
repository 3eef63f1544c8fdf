"""The default's model choice by ELBO, its evidence, and worker-accuracy intervals on synthetic crowds."""

from __future__ import annotations

import numpy as np
import pytest

import scoring
from scoring._answers import prepare_answers
from scoring._base import diagonal_confusion
from scoring.selection import STRENGTHS, RowStats, family_stats, log_evidence


def crowd_from(confusion: np.ndarray, n_items: int, per_item: int, seed: int):
    """Items answered by ``per_item`` distinct workers drawing from ``confusion`` (W, K, K)."""
    rng = np.random.default_rng(seed)
    n_workers, k, _ = confusion.shape
    truth = rng.integers(0, k, n_items)
    workers = np.concatenate([rng.choice(n_workers, per_item, replace=False) for _ in range(n_items)])
    items = np.repeat(np.arange(n_items), per_item)
    cumulative = confusion[workers, truth[items]].cumsum(axis=1)
    labels = np.minimum((rng.random(items.size)[:, None] > cumulative).sum(axis=1), k - 1)
    return items, workers, labels, truth


def one_coin_confusion(rng: np.random.Generator, n_workers: int, k: int) -> np.ndarray:
    return diagonal_confusion(rng.uniform(0.55, 0.95, n_workers), k)


def class_conditional_confusion(rng: np.random.Generator, n_workers: int, k: int) -> np.ndarray:
    """Each worker is good on some classes and poor on others; errors spread evenly."""
    accuracy = rng.uniform(0.4, 0.97, (n_workers, k))
    confusion = np.repeat(((1.0 - accuracy) / (k - 1))[:, :, None], k, axis=2)
    idx = np.arange(k)
    confusion[:, idx, idx] = accuracy
    return confusion


def full_confusion(rng: np.random.Generator, n_workers: int, k: int) -> np.ndarray:
    """Errors concentrated on one wrong class per row, which differs between workers."""
    accuracy = rng.uniform(0.55, 0.9, (n_workers, k))
    target = (np.arange(k)[None, :] + rng.integers(1, k, (n_workers, k))) % k
    confusion = np.zeros((n_workers, k, k))
    w, row = np.meshgrid(np.arange(n_workers), np.arange(k), indexing="ij")
    confusion[w, row, row] = accuracy
    confusion[w, row, target] = 0.85 * (1.0 - accuracy)
    confusion += (0.15 * (1.0 - accuracy) / (k - 2))[:, :, None] * (confusion == 0)
    return confusion


GENERATORS = {
    "one-coin": one_coin_confusion,
    "class-conditional": class_conditional_confusion,
    "full": full_confusion,
}


@pytest.mark.parametrize("family", list(GENERATORS))
@pytest.mark.parametrize("seed", [0, 1])
def test_model_selection_recovers_the_generating_family(family, seed):
    rng = np.random.default_rng(100 + seed)
    k = 4
    confusion = GENERATORS[family](rng, 20, k)
    items, workers, labels, truth = crowd_from(confusion, n_items=1500, per_item=5, seed=seed)
    est = scoring.estimator("model-selection").fit(items, workers, labels, n_classes=k)
    assert est.model_ == family, est.elbo_
    assert est.elbo_[family] == max(est.elbo_.values())
    assert set(est.elbo_) == {"one-coin", "class-conditional", "full"}
    # the chosen model labels as well as fitting that family alone does
    alone = scoring.ModelSelection(family=family).fit(items, workers, labels, n_classes=k)
    np.testing.assert_array_equal(est.labels_, alone.labels_)
    assert np.mean(est.labels_ == truth) > 0.85


def test_two_classes_compare_one_coin_with_class_conditional_only():
    rng = np.random.default_rng(7)
    items, workers, labels, _ = crowd_from(class_conditional_confusion(rng, 15, 2), n_items=1200, per_item=5, seed=7)
    est = scoring.estimator("model-selection").fit(items, workers, labels, n_classes=2)
    assert set(est.elbo_) == {"one-coin", "class-conditional"}
    assert est.model_ == "class-conditional"
    with pytest.raises(ValueError, match="unknown worker model 'two-coin'"):
        scoring.ModelSelection(family="two-coin").fit(items, workers, labels, n_classes=2)


def test_evidence_is_the_dirichlet_multinomial_likelihood_with_the_even_error_spread():
    # integer counts: one-coin evidence = sum over workers of log BetaBinomial(correct | n) without the
    # binomial coefficient, minus log(K-1) per wrong answer (each wrong answer names one of K-1 classes)
    from scipy.special import betaln

    counts = np.zeros((3, 3, 3))
    counts[0] = [[4, 1, 0], [0, 3, 1], [1, 0, 2]]
    counts[1] = [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    counts[2] = [[0, 2, 0], [0, 0, 1], [1, 0, 0]]
    stats = family_stats("one-coin", counts)
    correct = np.trace(counts, axis1=1, axis2=2)
    wrong = counts.sum(axis=(1, 2)) - correct
    m = stats.centre[0, 0, 0]
    for strength in (1.0, 8.0):
        a, b = strength * m, strength * (1 - m)
        expected = (betaln(a + correct, b + wrong) - betaln(a, b)).sum() - wrong.sum() * np.log(2)
        assert log_evidence(stats, np.array([strength]))[0] == pytest.approx(expected, rel=1e-12)


def test_strength_grows_with_how_alike_the_workers_are():
    alike = RowStats(
        np.array([[[80.0, 20.0]], [[79.0, 21.0]], [[81.0, 19.0]], [[80.0, 20.0]]]), np.array([[[0.8, 0.2]]]), 0.0
    )
    unlike = RowStats(
        np.array([[[98.0, 2.0]], [[55.0, 45.0]], [[90.0, 10.0]], [[70.0, 30.0]]]), np.array([[[0.78, 0.22]]]), 0.0
    )
    assert np.argmax(log_evidence(alike, STRENGTHS)) > np.argmax(log_evidence(unlike, STRENGTHS)) + 3


def test_worker_accuracy_intervals_cover_the_true_accuracy_at_the_claimed_rate():
    # 150 workers per crowd, accuracies from Beta(6, 2), activity log-normal (a few busy workers, many
    # with a handful of answers), 3 classes, 4 answers per item; 95% intervals over 4 crowds
    inside, total, errors = 0, 0, []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        n_items, n_workers, k = 1500, 150, 3
        truth = rng.integers(0, k, n_items)
        accuracy = rng.beta(6, 2, n_workers)
        activity = rng.lognormal(0.0, 1.0, n_workers)
        workers = np.concatenate(
            [rng.choice(n_workers, 4, replace=False, p=activity / activity.sum()) for _ in range(n_items)]
        )
        items = np.repeat(np.arange(n_items), 4)
        right = rng.random(items.size) < accuracy[workers]
        labels = np.where(right, truth[items], (truth[items] + rng.integers(1, k, items.size)) % k)
        est = scoring.estimator("model-selection").fit(items, workers, labels, n_classes=k)
        stats = scoring.worker_stats(items, workers, labels, est)
        seen = stats.n_answers > 0
        covered = (accuracy >= stats.accuracy_ci_low) & (accuracy <= stats.accuracy_ci_high)
        inside += int(covered[seen].sum())
        total += int(seen.sum())
        errors.append(np.abs(est.worker_accuracy_ - accuracy)[seen].mean())
    assert 0.90 <= inside / total <= 0.985
    assert np.mean(errors) < 0.09


def test_predictive_interval_widens_for_a_short_gold_check():
    a, b = np.array([80.0, 80.0]), np.array([20.0, 20.0])
    low, high = scoring.accuracy_predictive_interval(a, b, np.array([20, 2000]))
    assert high[0] - low[0] > 2 * (high[1] - low[1])
    assert low[1] < 0.8 < high[1]
    empty_low, empty_high = scoring.accuracy_predictive_interval(a[:1], b[:1], np.array([0]))
    assert empty_low[0] == 0.0 and empty_high[0] == 1.0


def test_repeats_all_keeps_every_row_and_latest_keeps_one_per_pair():
    items, workers, labels = [0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 1, 1]
    latest = prepare_answers(items, workers, labels, n_classes=2)
    every = prepare_answers(items, workers, labels, n_classes=2, repeats="all")
    assert latest.n_answers == 3 and every.n_answers == 4
    np.testing.assert_array_equal(every.vote_counts(), [[1, 2], [0, 1]])
    np.testing.assert_array_equal(latest.vote_counts(), [[1, 1], [0, 1]])
    with pytest.raises(scoring.AnswersError, match="repeats must be 'latest' or 'all'"):
        prepare_answers(items, workers, labels, n_classes=2, repeats="first")


def test_a_tiny_job_tells_a_contrarian_from_two_workers_who_agree():
    """Three workers, four items: two agree on everything, the third contradicts them on every item.

    A search started at full pooling stays where every worker is a coin flip (all posteriors 0.5);
    the ELBO is higher with the workers told apart, and the fit must find that optimum.
    """
    items = [0, 1, 2, 3, 0, 1, 2, 3, 0, 2, 3]
    workers = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    labels = [0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0]
    est = scoring.estimator("model-selection").fit(items, workers, labels, n_classes=2)
    assert est.labels_.tolist() == [0, 1, 0, 1]
    assert est.confidence_.min() > 0.9
    assert est.worker_accuracy_[0] > 0.8 and est.worker_accuracy_[1] > 0.8
    assert est.worker_accuracy_[2] < 0.5
    assert est.elbo_[est.model_] > -8.0  # the all-coin-flips optimum scores -8.2 nats here


def test_one_coin_counts_are_the_diagonal_and_the_rest_of_the_full_counts():
    rng = np.random.default_rng(5)
    items, workers, labels = rng.integers(0, 50, 400), rng.integers(0, 12, 400), rng.integers(0, 4, 400)
    data = prepare_answers(items, workers, labels, 4)
    posterior = rng.dirichlet(np.ones(4), data.n_items)
    full = data.confusion_counts(posterior)
    right = np.trace(full, axis1=1, axis2=2)
    expected = np.stack([right, full.sum(axis=(1, 2)) - right], axis=1)[:, None, :]
    np.testing.assert_allclose(data.correct_counts(posterior), expected)
    one_coin = family_stats("one-coin", data.correct_counts(posterior), n_classes=4)
    np.testing.assert_allclose(one_coin.counts, family_stats("one-coin", full).counts)
    assert one_coin.spread == family_stats("one-coin", full).spread == pytest.approx(np.log(3))


def test_a_large_job_chooses_its_model_on_a_share_of_the_items_and_fits_it_on_all():
    rng = np.random.default_rng(11)
    n_items, n_workers, k = 3000, 40, 3
    truth = rng.integers(0, k, n_items)
    confusion = diagonal_confusion(rng.uniform(0.55, 0.95, n_workers), k)
    items = np.repeat(np.arange(n_items), 4)
    workers = np.concatenate([rng.choice(n_workers, 4, replace=False) for _ in range(n_items)])
    labels = (rng.random(items.size)[:, None] > confusion[workers, truth[items]].cumsum(axis=1)).sum(axis=1)
    whole = scoring.estimator("model-selection").fit(items, workers, labels, n_classes=k)
    sampled = scoring.estimator("model-selection", choice_answers=3000).fit(items, workers, labels, n_classes=k)
    assert whole.choice_items_ == n_items and sampled.choice_items_ < n_items / 3
    assert sampled.model_ == whole.model_ == "one-coin"
    # the chosen model is then fitted on every item: the same labels as choosing on all of them
    assert np.mean(sampled.labels_ == whole.labels_) > 0.999
    assert sampled.proba_.shape == (n_items, k)
