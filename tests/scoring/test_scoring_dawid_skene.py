"""EM behaviour: recovery, invariances, gold, duplicates, degenerate inputs, one hand-checked step."""

from __future__ import annotations

import numpy as np
import pytest

import scoring

EM = ["dawid-skene", "one-coin", "gt-modified-ds", "bayesian-ds"]
ALL = ["majority", *EM]


@pytest.mark.parametrize("name", ["dawid-skene", "bayesian-ds"])
def test_recovers_known_confusion_matrices(name, make_crowd):
    crowd = make_crowd(n_items=3000, n_workers=8, n_classes=3, per_item=5, seed=1)
    est = scoring.estimator(name).fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    assert np.abs(est.worker_confusion_ - crowd.confusion).max() < 0.06
    assert np.mean(est.labels_ == crowd.truth) > 0.97
    empirical_prior = np.bincount(crowd.truth, minlength=3) / crowd.truth.size
    np.testing.assert_allclose(est.class_prior_, empirical_prior, atol=0.02)


def test_full_confusion_beats_majority_when_workers_have_biases(make_crowd):
    # three workers call class 1 "2" most of the time: majority vote is misled, DS is not
    k = 3
    confusion = np.tile(np.eye(k) * 0.9 + 0.05, (5, 1, 1))
    confusion[:3, 1] = [0.05, 0.25, 0.70]
    crowd = make_crowd(n_items=1500, n_workers=5, n_classes=k, per_item=5, seed=2, confusion=confusion)
    mv = scoring.estimator("majority").fit(crowd.items, crowd.workers, crowd.labels, n_classes=k)
    ds = scoring.estimator("dawid-skene").fit(crowd.items, crowd.workers, crowd.labels, n_classes=k)
    assert np.mean(ds.labels_ == crowd.truth) > np.mean(mv.labels_ == crowd.truth) + 0.1
    assert np.mean(ds.labels_ == crowd.truth) > 0.98


@pytest.mark.parametrize("name", ALL)
def test_invariant_to_relabelling_items_workers_and_classes(name, make_crowd):
    crowd = make_crowd(n_items=200, n_workers=9, n_classes=3, per_item=4, seed=3)
    base = scoring.estimator(name).fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    rng = np.random.default_rng(0)
    item_perm, worker_perm, class_perm = rng.permutation(200), rng.permutation(9), np.array([2, 0, 1])
    order = rng.permutation(crowd.items.size)  # answer rows shuffled too
    moved = scoring.estimator(name).fit(
        item_perm[crowd.items][order], worker_perm[crowd.workers][order], class_perm[crowd.labels][order], n_classes=3
    )
    np.testing.assert_allclose(moved.proba_[item_perm][:, class_perm], base.proba_, atol=1e-8)
    np.testing.assert_allclose(moved.worker_accuracy_[worker_perm], base.worker_accuracy_, atol=1e-8)
    confusion_back = moved.worker_confusion_[worker_perm][:, class_perm][:, :, class_perm]
    np.testing.assert_allclose(confusion_back, base.worker_confusion_, atol=1e-8)
    if name != "majority":  # majority's coin depends on item position by design
        np.testing.assert_array_equal(class_perm[base.labels_], moved.labels_[item_perm])


@pytest.mark.parametrize("name", ALL)
def test_gold_clamps_truth_even_against_every_answer(name, make_crowd):
    crowd = make_crowd(n_items=150, seed=4)
    gold_items = np.array([0, 1, 2])
    gold_labels = (crowd.truth[gold_items] + 1) % 3  # "gold" no worker agrees with, in general
    est = scoring.estimator(name).fit(
        crowd.items, crowd.workers, crowd.labels, n_classes=3, gold_items=gold_items, gold_labels=gold_labels
    )
    np.testing.assert_array_equal(est.labels_[gold_items], gold_labels)
    np.testing.assert_allclose(est.proba_[gold_items], np.eye(3)[gold_labels])


@pytest.mark.parametrize("name", EM)
def test_gold_informs_worker_quality(name):
    # workers 0 and 1 agree everywhere except on the gold items, where only worker 0 is right
    items = np.repeat(np.arange(40), 3)
    workers = np.tile([0, 1, 2], 40)
    labels = np.tile([0, 0, 0], 40) + np.repeat(np.arange(40) % 2, 3)
    gold_items = np.arange(0, 40, 4)
    labels = labels.reshape(40, 3)
    labels[gold_items, 1] = 1 - labels[gold_items, 1]
    labels = labels.ravel()
    kwargs = dict(n_classes=2)
    without = scoring.estimator(name).fit(items, workers, labels, **kwargs)
    with_gold = scoring.estimator(name).fit(
        items, workers, labels, gold_items=gold_items, gold_labels=gold_items % 2, **kwargs
    )
    assert with_gold.worker_accuracy_[1] < with_gold.worker_accuracy_[0]
    assert with_gold.worker_accuracy_[1] <= without.worker_accuracy_[1] + 1e-12


def test_gold_item_without_answers_gets_its_gold_label():
    est = scoring.estimator("default").fit(
        [0, 0], [0, 1], [1, 1], n_classes=2, n_items=3, gold_items=[2], gold_labels=[0]
    )
    assert list(est.labels_) == [1, -1, 0]


@pytest.mark.parametrize("name", ALL)
def test_latest_answer_of_a_worker_wins(name, make_crowd):
    crowd = make_crowd(n_items=100, seed=5)
    reference = scoring.estimator(name).fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    # worker answers item 0 earlier with a different label: that earlier row must be ignored
    first = crowd.workers[0]
    items = np.r_[0, crowd.items]
    workers = np.r_[first, crowd.workers]
    labels = np.r_[(crowd.labels[0] + 1) % 3, crowd.labels]
    est = scoring.estimator(name).fit(items, workers, labels, n_classes=3)
    np.testing.assert_allclose(est.proba_, reference.proba_, atol=1e-12)
    # ... and appended later, the new label replaces the old one
    later = scoring.estimator(name).fit(
        np.r_[crowd.items, 0], np.r_[crowd.workers, first], np.r_[crowd.labels, (crowd.labels[0] + 1) % 3], n_classes=3
    )
    assert not np.allclose(later.proba_[0], reference.proba_[0])


@pytest.mark.parametrize("name", ALL)
def test_one_worker_labels_are_that_workers_answers(name):
    labels = np.array([0, 1, 2, 1, 0, 2, 2])
    est = scoring.estimator(name).fit(np.arange(7), np.zeros(7, int), labels, n_classes=3)
    np.testing.assert_array_equal(est.labels_, labels)
    assert np.all(np.isfinite(est.proba_)) and np.all(np.isfinite(est.worker_confusion_))


@pytest.mark.parametrize("name", ALL)
def test_one_item(name):
    est = scoring.estimator(name).fit([0, 0, 0], [0, 1, 2], [1, 1, 0], n_classes=2)
    assert list(est.labels_) == [1]
    assert est.proba_[0, 1] > 0.5


@pytest.mark.parametrize("name", ALL)
def test_all_answers_identical_and_a_class_never_chosen(name):
    items = np.repeat(np.arange(30), 3)
    workers = np.tile([0, 1, 2], 30)
    est = scoring.estimator(name).fit(items, workers, np.ones(90, int), n_classes=4)
    assert np.all(est.labels_ == 1)
    for array in (est.proba_, est.worker_confusion_, est.worker_accuracy_, est.confidence_):
        assert np.all(np.isfinite(array))
    np.testing.assert_allclose(est.worker_confusion_.sum(axis=2), 1.0)
    assert np.all(est.proba_[:, [0, 2, 3]] < 0.5)


@pytest.mark.parametrize("name", ALL)
def test_item_answered_once_and_worker_answering_once(name, make_crowd):
    crowd = make_crowd(n_items=100, seed=6)
    # item 100: one answer, by worker 12 who answers nothing else
    est = scoring.estimator(name).fit(
        np.r_[crowd.items, 100], np.r_[crowd.workers, 12], np.r_[crowd.labels, 2], n_classes=3
    )
    assert est.labels_[100] == 2
    assert 0 < est.worker_accuracy_[12] < 1


def test_one_dawid_skene_step_by_hand():
    """Soft majority vote, one M-step, one E-step, on three items (smoothing off)."""
    items = [0, 0, 1, 1, 2, 2]
    workers = [0, 1, 0, 1, 0, 1]
    labels = [0, 0, 1, 0, 1, 1]
    est = scoring.DawidSkene(max_iter=1, smoothing=0.0).fit(items, workers, labels, n_classes=2)
    # vote shares: item0 (1, 0), item1 (.5, .5), item2 (0, 1)
    # worker 0 soft counts: true0 -> said0 1, said1 .5 ; true1 -> said1 1.5
    # worker 1 soft counts: true0 -> said0 1.5 ; true1 -> said0 .5, said1 1
    np.testing.assert_allclose(est.worker_confusion_[0], [[2 / 3, 1 / 3], [0, 1]], atol=1e-9)
    np.testing.assert_allclose(est.worker_confusion_[1], [[1, 0], [1 / 3, 2 / 3]], atol=1e-9)
    # prior (1.5 + 1, 1.5 + 1) / 5 = (.5, .5); item1: .5*1/3*1 vs .5*1*1/3 -> a tie
    np.testing.assert_allclose(est.proba_[1], [0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(est.proba_[0], [1, 0], atol=1e-8)
    np.testing.assert_allclose(est.proba_[2], [0, 1], atol=1e-8)


def test_one_em_step_matches_a_loop_implementation(make_crowd):
    crowd = make_crowd(n_items=30, n_workers=5, n_classes=3, per_item=3, seed=7)
    k = 3
    est = scoring.DawidSkene(max_iter=1, smoothing=0.5).fit(crowd.items, crowd.workers, crowd.labels, n_classes=k)
    # reference: plain loops over answers
    votes = np.zeros((30, k))
    for i, label in zip(crowd.items, crowd.labels):
        votes[i, label] += 1
    post = votes / votes.sum(axis=1, keepdims=True)
    counts = np.full((5, k, k), 0.5)
    for i, w, label in zip(crowd.items, crowd.workers, crowd.labels):
        counts[w, :, label] += post[i]
    conf = counts / counts.sum(axis=2, keepdims=True)
    prior = (post.sum(axis=0) + 1) / (post.sum() + k)
    joint = np.tile(prior, (30, 1))
    for i, w, label in zip(crowd.items, crowd.workers, crowd.labels):
        joint[i] *= conf[w, :, label]
    expected = joint / joint.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(est.worker_confusion_, conf, atol=1e-12)
    np.testing.assert_allclose(est.proba_, expected, atol=1e-12)
    np.testing.assert_allclose(est.log_likelihood_, np.log(joint.sum(axis=1)).sum(), rtol=1e-12)


def test_em_stops_on_relative_log_likelihood_change(make_crowd):
    crowd = make_crowd(n_items=300, seed=8)
    loose = scoring.DawidSkene(tol=1e-2).fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    tight = scoring.DawidSkene(tol=1e-10, max_iter=500).fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    assert loose.n_iter_ < tight.n_iter_ <= 500
    assert tight.log_likelihood_ >= loose.log_likelihood_ - 1e-9


def test_bayesian_ds_uses_the_crowd_for_sparse_workers(make_crowd):
    # 60 workers with 2 answers each: plain DS trusts their 2 answers, the pooled prior does not
    crowd = make_crowd(n_items=600, n_workers=60, n_classes=4, per_item=3, seed=9)
    ds = scoring.estimator("dawid-skene").fit(crowd.items, crowd.workers, crowd.labels, n_classes=4)
    bayes = scoring.estimator("bayesian-ds").fit(crowd.items, crowd.workers, crowd.labels, n_classes=4)
    assert bayes.fallback_ == "none"
    sparse = make_crowd(n_items=100, n_workers=150, n_classes=4, per_item=3, seed=10)
    ds_sparse = scoring.estimator("dawid-skene").fit(sparse.items, sparse.workers, sparse.labels, n_classes=4)
    bayes_sparse = scoring.estimator("bayesian-ds").fit(sparse.items, sparse.workers, sparse.labels, n_classes=4)
    assert np.mean(bayes_sparse.labels_ == sparse.truth) > np.mean(ds_sparse.labels_ == sparse.truth)
    assert np.mean(bayes.labels_ == crowd.truth) >= np.mean(ds.labels_ == crowd.truth) - 0.01


def test_majority_vote_shares_and_seeded_ties():
    items = np.repeat(np.arange(200), 2)
    workers = np.tile([0, 1], 200)
    labels = np.tile([0, 1], 200)  # every item is a 1-1 tie
    first = scoring.MajorityVote(seed=1).fit(items, workers, labels, n_classes=2)
    again = scoring.MajorityVote(seed=1).fit(items, workers, labels, n_classes=2)
    other = scoring.MajorityVote(seed=2).fit(items, workers, labels, n_classes=2)
    np.testing.assert_array_equal(first.labels_, again.labels_)
    assert 0.3 < first.labels_.mean() < 0.7  # a coin, not "always the first class"
    assert np.any(first.labels_ != other.labels_)
    np.testing.assert_allclose(first.confidence_, 0.5)
    est = scoring.MajorityVote().fit([0, 0, 0], [0, 1, 2], [2, 2, 0], n_classes=3)
    np.testing.assert_allclose(est.proba_[0], [1 / 3, 0, 2 / 3])
    assert est.labels_[0] == 2 and est.confidence_[0] == pytest.approx(2 / 3)


def test_label_switching_guard_accepts_skewed_rows_and_rejects_swaps():
    from scoring.dawid_skene import _diagonal_dominant

    skewed = np.array([[90.0, 8, 2], [50, 40, 10], [30, 20, 50]])  # row 1 mostly answered "0": real, not a swap
    swapped = skewed[[1, 0, 2]][:, [1, 0, 2]][[1, 0, 2]]  # classes 0 and 1 exchanged on one side only
    assert _diagonal_dominant(skewed)
    assert not _diagonal_dominant(swapped)


def test_do_no_harm_falls_back_to_majority_when_em_flips_unanimous_items():
    from scoring._answers import prepare_answers
    from scoring._base import soft_majority
    from scoring.dawid_skene import _unanimous_flip_rate

    data = prepare_answers([0, 0, 1, 1, 2], [0, 1, 0, 1, 0], [1, 1, 0, 0, 1], n_classes=2)
    votes = soft_majority(data)
    flipped = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # item 0 flipped; item 2 has one vote only
    assert _unanimous_flip_rate(data, votes, flipped) == 0.5
    strict = scoring.BayesianDawidSkene(max_unanimous_flips=-1.0).fit(
        [0, 0, 1, 1], [0, 1, 0, 1], [1, 1, 0, 0], n_classes=2
    )
    assert strict.fallback_ == "majority"
    np.testing.assert_allclose(strict.proba_, [[0, 1], [1, 0]])


@pytest.mark.parametrize("name", ["dawid-skene", "one-coin", "bayesian-ds"])
def test_warm_start_refit_after_new_answers_needs_fewer_iterations(name, make_crowd):
    crowd = make_crowd(n_items=600, n_workers=10, n_classes=3, per_item=4, seed=13)
    first = crowd.items < 500  # answers for the first 500 items arrive first
    cold = scoring.estimator(name, tol=1e-7).fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    warm = scoring.estimator(name, tol=1e-7, warm_start=True)
    warm.fit(crowd.items[first], crowd.workers[first], crowd.labels[first], n_classes=3, n_items=600)
    assert np.all(warm.labels_[500:] == -1)
    warm.fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    assert warm.n_iter_ < cold.n_iter_
    assert np.mean(warm.labels_ == cold.labels_) > 0.99
    np.testing.assert_allclose(warm.proba_, cold.proba_, atol=0.05)


def _many_class_sparse_crowd(make_crowd, seed: int):
    """10 classes, 3 answers per item, 40 workers of the simulated crowd's mix (good, sloppy, spammers)."""
    from tests.scoring.conftest import mixed_crowd_confusion

    return make_crowd(
        n_items=1800, n_workers=40, n_classes=10, per_item=3, seed=seed, confusion=mixed_crowd_confusion(40, 10, seed)
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_default_confidence_matches_accuracy_on_sparse_many_class_crowd(seed, make_crowd):
    # per-worker 10x10 matrices from ~13 answers a row made every disagreement look decisive:
    # mean confidence 0.996 at accuracy 0.93 before the evidence-chosen one-coin shrinkage
    # bayesian-ds shrinks toward one-coin by evidence; model-selection picks the one-coin model by its ELBO
    crowd = _many_class_sparse_crowd(make_crowd, seed)
    bayes = scoring.estimator("bayesian-ds").fit(crowd.items, crowd.workers, crowd.labels, n_classes=10)
    assert bayes.one_coin_strength_ >= 100
    est = scoring.estimator("model-selection").fit(crowd.items, crowd.workers, crowd.labels, n_classes=10)
    accuracy = np.mean(est.labels_ == crowd.truth)
    assert est.model_ == "one-coin"
    assert abs(est.confidence_.mean() - accuracy) < 0.03
    assert scoring.expected_calibration_error(est.proba_, crowd.truth) < 0.04
    one_coin = scoring.estimator("one-coin").fit(crowd.items, crowd.workers, crowd.labels, n_classes=10)
    assert accuracy >= np.mean(one_coin.labels_ == crowd.truth) - 0.005


def test_without_one_coin_shrinkage_the_sparse_many_class_crowd_is_over_confident(make_crowd):
    crowd = _many_class_sparse_crowd(make_crowd, 0)
    est = scoring.BayesianDawidSkene(one_coin_evidence=0).fit(crowd.items, crowd.workers, crowd.labels, n_classes=10)
    assert est.one_coin_strength_ == 0
    assert est.confidence_.mean() - np.mean(est.labels_ == crowd.truth) > 0.04


def test_one_coin_shrinkage_stays_off_when_workers_have_class_specific_biases(make_crowd):
    # three of five workers call class 1 "2" most of the time: only full matrices can undo that
    k = 3
    confusion = np.tile(np.eye(k) * 0.9 + 0.05, (5, 1, 1))
    confusion[:3, 1] = [0.05, 0.25, 0.70]
    crowd = make_crowd(n_items=1500, n_workers=5, n_classes=k, per_item=5, seed=2, confusion=confusion)
    bayes = scoring.estimator("bayesian-ds").fit(crowd.items, crowd.workers, crowd.labels, n_classes=k)
    assert bayes.one_coin_strength_ == 0
    np.testing.assert_allclose(bayes.worker_confusion_[:3, 1], confusion[:3, 1], atol=0.06)
    est = scoring.estimator("model-selection").fit(crowd.items, crowd.workers, crowd.labels, n_classes=k)
    assert est.model_ == "full"
    np.testing.assert_allclose(est.worker_confusion_[:3, 1], confusion[:3, 1], atol=0.06)


def test_posterior_tolerance_stops_em_once_posteriors_settle(make_crowd):
    from scoring._answers import prepare_answers
    from scoring._base import soft_majority
    from scoring.dawid_skene import run_em

    crowd = make_crowd(n_items=400, n_workers=12, n_classes=3, per_item=3, seed=14)
    data = prepare_answers(crowd.items, crowd.workers, crowd.labels, 3)
    gold = (np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    m_step = scoring.DawidSkene()._m_step
    tight = run_em(data, gold, soft_majority(data), m_step, max_iter=500, tol=1e-12)
    settled = run_em(data, gold, soft_majority(data), m_step, max_iter=500, tol=1e-12, posterior_tol=1e-3)
    assert settled.n_iter < tight.n_iter
    again = run_em(data, gold, soft_majority(data), m_step, max_iter=settled.n_iter - 1, tol=1e-12)
    assert np.abs(settled.posterior - again.posterior).sum(axis=1).mean() <= 1e-3
    np.testing.assert_array_equal(settled.posterior.argmax(axis=1), tight.posterior.argmax(axis=1))


def test_one_coin_evidence_ignores_an_improper_zero_prior(make_crowd):
    # strength=diagonal=0 leaves zero pseudo-counts: that prior's evidence is unusable, the choice still well defined
    crowd = make_crowd(n_items=200, n_workers=6, n_classes=3, per_item=3, seed=15)
    from scoring._answers import prepare_answers
    from scoring._base import soft_majority

    data = prepare_answers(crowd.items, crowd.workers, crowd.labels, 3)
    est = scoring.BayesianDawidSkene(strength=0.0, diagonal=0.0)
    with np.errstate(all="raise"):
        strength = est._choose_one_coin_strength(data.confusion_counts(soft_majority(data)))
    assert strength in (0.0, *scoring.dawid_skene.STRENGTH_GRID[1:])


def test_grid_evidence_is_the_dirichlet_multinomial_likelihood_of_every_row():
    # integer counts with empty cells and an empty row: each grid value must equal the sum over
    # (worker, true class) rows of scipy's Dirichlet-multinomial log pmf, minus the multinomial coefficient
    from scipy.special import gammaln
    from scipy.stats import dirichlet_multinomial

    from scoring.dawid_skene import _grid_log_evidence

    rng = np.random.default_rng(3)
    counts = rng.poisson(1.5, size=(5, 3, 3)).astype(float)
    counts[0, 1] = 0.0  # a worker who never saw true class 1
    base = np.array([[[1.5, 0.2, 0.3], [0.1, 1.8, 0.1], [0.4, 0.4, 1.2]]])
    direction = rng.dirichlet(np.ones(3), size=(5, 3))
    grid = np.array([0.0, 1.0, 10.0])
    expected = []
    for strength in grid:
        alpha = np.broadcast_to(base, counts.shape) + strength * direction
        total = 0.0
        for w in range(5):
            for k in range(3):
                n = int(counts[w, k].sum())
                coefficient = gammaln(n + 1) - gammaln(counts[w, k] + 1).sum()
                total += dirichlet_multinomial.logpmf(counts[w, k], alpha[w, k], n) - coefficient if n else 0.0
        expected.append(total)
    np.testing.assert_allclose(_grid_log_evidence(counts, base, direction, grid), expected, rtol=1e-10)


def test_squarem_reaches_plain_em_fixed_point_in_fewer_em_steps(make_crowd):
    from scoring._answers import prepare_answers
    from scoring._base import soft_majority
    from scoring.dawid_skene import run_em

    crowd = make_crowd(n_items=400, n_workers=30, n_classes=3, per_item=3, seed=16)
    data = prepare_answers(crowd.items, crowd.workers, crowd.labels, 3)
    gold = (np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    est = scoring.BayesianDawidSkene()
    est.one_coin_strength_ = 0.0
    m_step = est._m_step_with(est.diagonal)
    exact = run_em(data, gold, soft_majority(data), m_step, max_iter=20000, tol=0.0, posterior_tol=1e-12)
    plain = run_em(data, gold, soft_majority(data), m_step, max_iter=1000, tol=0.0, posterior_tol=1e-6)
    fast = run_em(data, gold, soft_majority(data), m_step, max_iter=1000, tol=0.0, posterior_tol=1e-6, accelerate=True)
    assert fast.n_iter < plain.n_iter < 1000
    np.testing.assert_allclose(fast.posterior, exact.posterior, atol=1e-3)
    np.testing.assert_array_equal(fast.posterior.argmax(axis=1), exact.posterior.argmax(axis=1))


def test_squarem_respects_max_iter_and_gold(make_crowd):
    crowd = make_crowd(n_items=300, n_workers=20, n_classes=3, per_item=3, seed=17)
    est = scoring.BayesianDawidSkene(max_iter=4).fit(
        crowd.items, crowd.workers, crowd.labels, n_classes=3, gold_items=[0, 1], gold_labels=[2, 2]
    )
    assert est.n_iter_ <= 4
    np.testing.assert_array_equal(est.proba_[[0, 1]], [[0, 0, 1], [0, 0, 1]])


def test_float32_em_gives_float64_results_matching_the_float64_fit(make_crowd):
    crowd = make_crowd(n_items=500, n_workers=25, n_classes=4, per_item=3, seed=18)
    wide = scoring.BayesianDawidSkene().fit(crowd.items, crowd.workers, crowd.labels, n_classes=4)
    narrow = scoring.BayesianDawidSkene(dtype="float32").fit(crowd.items, crowd.workers, crowd.labels, n_classes=4)
    assert narrow.proba_.dtype == np.float64 and narrow.worker_confusion_.dtype == np.float64
    np.testing.assert_allclose(narrow.proba_.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(narrow.proba_, wide.proba_, atol=1e-4)
    np.testing.assert_array_equal(narrow.labels_, wide.labels_)


def test_latest_answer_index_sorted_input_and_repeated_pairs():
    from scoring._answers import latest_answer_index

    items, workers = np.array([0, 0, 1, 2]), np.array([0, 1, 0, 1])
    np.testing.assert_array_equal(latest_answer_index(items, workers, 2), [0, 1, 2, 3])
    # rows 0 and 3 are the same (item 1, worker 0): the later one is kept; result in (item, worker) order
    items, workers = np.array([1, 0, 2, 1, 0]), np.array([0, 1, 0, 0, 0])
    np.testing.assert_array_equal(latest_answer_index(items, workers, 2), [4, 1, 3, 2])


def test_label_switch_check_agrees_with_hungarian_matching():
    """The negative-cycle test finds exactly the matrices where a permutation beats identity."""
    from scipy.optimize import linear_sum_assignment

    from scoring.dawid_skene import _diagonal_dominant
    from scoring.majority import row_normalise

    rng = np.random.default_rng(7)
    switched = 0
    for _ in range(500):
        k = int(rng.integers(1, 7))
        counts = rng.random((k, k)) * 3 + np.eye(k) * rng.random() * 2
        if rng.random() < 0.2:
            counts[rng.integers(k)] = 0.0  # a class nobody answered for
        observed = counts.sum(axis=1) > 1e-9
        rates = row_normalise(counts)[np.ix_(observed, observed)]
        rows, cols = linear_sum_assignment(rates, maximize=True)
        expected = bool(rates[rows, cols].sum() <= np.trace(rates) + 1e-9)
        switched += not expected
        assert _diagonal_dominant(counts) == expected
    assert 50 < switched < 450  # both outcomes were exercised
