"""EBCC: its updates and ELBO against a per-answer computation, worker correlation, determinism, input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import digamma, gammaln
from scipy.stats import dirichlet

import scoring
from scoring import AnswersError
from scoring._answers import prepare_answers
from scoring._base import soft_majority
from tests.scoring.test_scoring_selection import GENERATORS, crowd_from


def subtype_crowd(seed: int, n_items: int = 800, k: int = 2, group: int = 10, per_group: int = 3):
    """Two groups of workers; each item is of a subtype only one group knows (accuracy 0.95, the other 0.45).

    Answers within a group are correlated given the class (they share the item's subtype), which
    independent-worker models mistake for class structure.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    subtype = rng.integers(0, 2, n_items)
    first = np.stack([rng.choice(group, per_group, replace=False) for _ in range(n_items)])
    second = np.stack([rng.choice(group, per_group, replace=False) for _ in range(n_items)]) + group
    workers = np.concatenate([first, second], axis=1)
    knows = (workers >= group) == (subtype[:, None] == 1)
    right = rng.random(workers.shape) < np.where(knows, 0.95, 0.45)
    labels = np.where(right, truth[:, None], (truth[:, None] + rng.integers(1, k, workers.shape)) % k)
    items = np.repeat(np.arange(n_items), 2 * per_group)
    return items, workers.ravel(), labels.ravel(), truth


def bayes_accuracy(items, workers, labels, truth, k: int, group: int = 10) -> float:
    """Accuracy of the true model's posterior (known subtypes' accuracies, subtypes equally likely)."""
    n = truth.size
    w, answer = workers.reshape(n, -1), labels.reshape(n, -1)
    likelihood = np.zeros((n, k))
    for c in range(k):
        for s in range(2):
            accuracy = np.where((w >= group) == (s == 1), 0.95, 0.45)
            likelihood[:, c] += np.where(answer == c, accuracy, (1 - accuracy) / (k - 1)).prod(axis=1)
    return float(np.mean(likelihood.argmax(axis=1) == truth))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_subtypes_recover_labels_where_independent_worker_models_mistake_correlation_for_classes(seed):
    items, workers, labels, truth = subtype_crowd(seed)
    ebcc = scoring.estimator("ebcc").fit(items, workers, labels, n_classes=2)
    one_subtype = scoring.EBCC(n_subtypes=1).fit(items, workers, labels, n_classes=2)  # IBCC, the same priors
    ds = scoring.estimator("dawid-skene").fit(items, workers, labels, n_classes=2)
    accuracy = {name: np.mean(est.labels_ == truth) for name, est in [("ebcc", ebcc), ("m1", one_subtype), ("ds", ds)]}
    assert accuracy["ebcc"] > accuracy["ds"] + 0.1, accuracy
    assert accuracy["ebcc"] > accuracy["m1"] + 0.1, accuracy
    assert accuracy["ebcc"] > bayes_accuracy(items, workers, labels, truth, 2) - 0.03, accuracy
    # the evidence, without gold, prefers the subtypes too
    assert ebcc.elbo_ > one_subtype.elbo_


@pytest.mark.parametrize("seed", [0, 1])
def test_elbo_is_comparable_with_the_default_families(seed):
    """EBCC's ELBO beats every independent-worker family on a correlated crowd, and loses to the generating one."""
    items, workers, labels, _ = subtype_crowd(seed, k=3)
    chosen = scoring.estimator("model-selection").fit(items, workers, labels, n_classes=3)
    assert scoring.EBCC().fit(items, workers, labels, n_classes=3).elbo_ > max(chosen.elbo_.values())
    for family, generate in GENERATORS.items():
        confusion = generate(np.random.default_rng(100 + seed), 20, 4)
        items, workers, labels, _ = crowd_from(confusion, n_items=1500, per_item=5, seed=seed)
        chosen = scoring.estimator("model-selection").fit(items, workers, labels, n_classes=4)
        assert chosen.elbo_[family] > scoring.EBCC().fit(items, workers, labels, n_classes=4).elbo_, family


def per_answer_ebcc(items, workers, labels, k: int, m: int, n_iter: int, seed: int):
    """The EBCC updates answer by answer (the paper's equations, no sparse algebra) and the ELBO term by term."""
    data = prepare_answers(items, workers, labels, k)
    votes = soft_majority(data)
    split = np.random.default_rng(seed).exponential(size=(*votes.shape, m))
    joint = split / split.sum(axis=2, keepdims=True) * votes[:, :, None]
    prior = np.eye(k) * 3.0 + 1.0

    def dirichlets(joint):
        eta, nu = 0.1 / m + joint.sum(axis=0), 1.0 + joint.sum(axis=(0, 2))
        mu = np.zeros((data.n_workers, k, m, k)) + prior[None, :, None, :]
        for w, item, label in zip(data.workers, data.items, data.labels):
            mu[w, :, :, label] += joint[item]
        return eta, nu, mu

    def expected_log(a):
        return digamma(a) - digamma(a.sum(axis=-1, keepdims=True))

    for _ in range(n_iter):
        eta, nu, mu = dirichlets(joint)
        log_joint = np.zeros_like(joint) + expected_log(eta)[None] + expected_log(nu)[None, :, None]
        for w, item, label in zip(data.workers, data.items, data.labels):
            log_joint[item] += expected_log(mu)[w, :, :, label]
        joint = np.exp(log_joint - log_joint.max(axis=(1, 2), keepdims=True))
        joint /= joint.sum(axis=(1, 2), keepdims=True)
    eta, nu, mu = dirichlets(joint)
    e_pi, e_tau, e_v = expected_log(eta), expected_log(nu), expected_log(mu)
    # E_q[log p(answers, classes, subtypes, parameters)] - E_q[log q], every prior with its normaliser
    elbo = float((joint * (e_tau[None, :, None] + e_pi[None])).sum())
    for w, item, label in zip(data.workers, data.items, data.labels):
        elbo += float((joint[item] * e_v[w, :, :, label]).sum())
    elbo += gammaln(float(k))  # E log Dirichlet(tau | 1, ..., 1) = -log B(1, ..., 1)
    elbo += k * (gammaln(0.1) - m * gammaln(0.1 / m)) + float(((0.1 / m - 1) * e_pi).sum())
    elbo += data.n_workers * m * float((gammaln(prior.sum(axis=1)) - gammaln(prior).sum(axis=1)).sum())
    elbo += float(((prior[None, :, None, :] - 1) * e_v).sum())
    elbo += dirichlet.entropy(nu) + sum(dirichlet.entropy(row) for row in eta)
    elbo += sum(dirichlet.entropy(row) for row in mu.reshape(-1, k))
    elbo += -float((joint * np.log(joint)).sum())
    return joint.sum(axis=2), elbo


def test_updates_and_elbo_match_the_per_answer_equations():
    items, workers, labels, _ = subtype_crowd(0, n_items=60, k=3, group=4, per_group=2)
    est = scoring.EBCC(n_subtypes=3, max_iter=6, tol=0.0, seed=5).fit(items, workers, labels, n_classes=3)
    posterior, elbo = per_answer_ebcc(items, workers, labels, k=3, m=3, n_iter=6, seed=5)
    assert est.n_iter_ == 6
    np.testing.assert_allclose(est.proba_, posterior, atol=1e-12)
    assert est.elbo_ == pytest.approx(elbo, rel=1e-10)


def test_elbo_never_decreases_with_more_iterations():
    items, workers, labels, _ = subtype_crowd(3, n_items=300, k=3)
    elbos = [scoring.EBCC(max_iter=n, tol=0.0).fit(items, workers, labels, n_classes=3).elbo_ for n in (1, 2, 4, 8, 16)]
    assert all(later >= earlier - 1e-6 for earlier, later in zip(elbos, elbos[1:])), elbos
    assert elbos[-1] > elbos[0] + 1.0


def test_deterministic_for_a_seed_and_restarts_keep_the_best_elbo():
    items, workers, labels, _ = subtype_crowd(4, n_items=300, k=3)
    first = scoring.EBCC(seed=7).fit(items, workers, labels, n_classes=3)
    again = scoring.EBCC(seed=7).fit(items, workers, labels, n_classes=3)
    np.testing.assert_array_equal(first.proba_, again.proba_)
    np.testing.assert_array_equal(first.worker_confusion_, again.worker_confusion_)
    assert first.elbo_ == again.elbo_
    other = scoring.EBCC(seed=8).fit(items, workers, labels, n_classes=3)
    assert not np.array_equal(other.worker_subtype_confusion_, first.worker_subtype_confusion_)
    restarts = scoring.EBCC(seed=7, n_restarts=3).fit(items, workers, labels, n_classes=3)
    assert restarts.restart_elbos_[0] == first.elbo_
    assert restarts.elbo_ == max(restarts.restart_elbos_)
    assert len(restarts.restart_n_iter_) == 3 and restarts.n_iter_ in restarts.restart_n_iter_


def test_fitted_attributes_are_distributions(crowd):
    est = scoring.estimator("ebcc", n_subtypes=4).fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    assert est.subtype_weights_.shape == (3, 4)
    np.testing.assert_allclose(est.subtype_weights_.sum(axis=1), 1.0)
    assert est.worker_subtype_confusion_.shape == (12, 3, 4, 3)
    np.testing.assert_allclose(est.worker_confusion_.sum(axis=2), 1.0)
    np.testing.assert_allclose(est.class_prior_.sum(), 1.0)
    assert np.isfinite(est.elbo_) and np.isfinite(est.log_likelihood_)


def test_gold_clamps_truth_even_against_every_answer(make_crowd):
    crowd = make_crowd(n_items=150, seed=4)
    gold_items = np.array([0, 1, 2])
    gold_labels = (crowd.truth[gold_items] + 1) % 3
    est = scoring.EBCC().fit(
        crowd.items, crowd.workers, crowd.labels, n_classes=3, gold_items=gold_items, gold_labels=gold_labels
    )
    np.testing.assert_array_equal(est.labels_[gold_items], gold_labels)
    np.testing.assert_allclose(est.proba_[gold_items], np.eye(3)[gold_labels])


def test_latest_answer_of_a_worker_wins(make_crowd):
    crowd = make_crowd(n_items=100, seed=5)
    reference = scoring.EBCC().fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    first = crowd.workers[0]
    earlier = scoring.EBCC().fit(
        np.r_[0, crowd.items], np.r_[first, crowd.workers], np.r_[(crowd.labels[0] + 1) % 3, crowd.labels], n_classes=3
    )
    np.testing.assert_allclose(earlier.proba_, reference.proba_, atol=1e-12)


def test_degenerate_crowds():
    one_worker = np.array([0, 1, 2, 1, 0, 2, 2])
    est = scoring.EBCC().fit(np.arange(7), np.zeros(7, int), one_worker, n_classes=3)
    np.testing.assert_array_equal(est.labels_, one_worker)
    same = scoring.EBCC().fit(np.repeat(np.arange(30), 3), np.tile([0, 1, 2], 30), np.ones(90, int), n_classes=4)
    assert np.all(same.labels_ == 1)
    for array in (same.proba_, same.worker_confusion_, same.worker_accuracy_):
        assert np.all(np.isfinite(array))


def test_bad_input_and_parameters_are_clear_errors():
    with pytest.raises(AnswersError, match="no answers to consolidate"):
        scoring.estimator("ebcc").fit([], [], [], n_classes=2)
    with pytest.raises(AnswersError, match=r"labels\[2\] = 5 is >= n_classes = 3"):
        scoring.estimator("ebcc").fit([0, 1, 2], [0, 0, 0], [0, 1, 5], n_classes=3)
    with pytest.raises(ValueError, match="n_subtypes must be >= 1, got 0"):
        scoring.EBCC(n_subtypes=0).fit([0, 1], [0, 1], [0, 1], n_classes=2)
    with pytest.raises(ValueError, match="diagonal must be > 0"):
        scoring.EBCC(diagonal=0).fit([0, 1], [0, 1], [0, 1], n_classes=2)
