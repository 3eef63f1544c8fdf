"""Ground Truth's modified Dawid-Skene, checked against a loop transcription of AWS's algorithm."""

from __future__ import annotations

import numpy as np

import scoring


def aws_reference(items, workers, labels, k, epochs=20):
    """Dict-and-loop version of AWS's MulticlassDawidSkeneEM (last answer per worker and item wins)."""
    answers: dict[int, dict[int, int]] = {}
    for i, w, label in zip(items, workers, labels):
        answers.setdefault(int(i), {})[int(w)] = int(label)
    worker_ids = sorted({int(w) for w in workers})

    def one_coin(a):
        m = np.full((k, k), (1 - a) / (k - 1))
        np.fill_diagonal(m, a)
        return m

    p = {i: np.full(k, 1.0 / k) for i in answers}
    c = {j: one_coin(0.7) for j in worker_ids}
    pooled = 0.7
    for _ in range(epochs):
        prior = sum(p.values())
        prior = prior / prior.sum()
        for i, by_worker in answers.items():
            p[i] = prior.copy()
            for j, label in by_worker.items():
                p[i] = p[i] * c[j][:, label]
            p[i] = p[i] / p[i].sum()
        counts = {j: np.zeros((k, k)) for j in worker_ids}
        for i, by_worker in answers.items():
            for j, label in by_worker.items():
                counts[j][:, label] += p[i]
        accuracy = {}
        for j in worker_ids:
            n = counts[j].sum()
            accuracy[j] = np.trace(counts[j]) / n
            m = counts[j] + one_coin(accuracy[j]) * n + one_coin(pooled) * n / 2
            c[j] = m / m.sum(axis=1, keepdims=True)
        pooled = sum(accuracy.values()) / len(accuracy)
    return p, c


def test_matches_the_aws_algorithm(make_crowd):
    crowd = make_crowd(n_items=60, n_workers=7, n_classes=3, per_item=3, seed=11)
    est = scoring.GroundTruthDawidSkene(min_relative_diff=0.0).fit(
        crowd.items, crowd.workers, crowd.labels, n_classes=3
    )
    p, c = aws_reference(crowd.items, crowd.workers, crowd.labels, 3)
    assert est.n_iter_ == 20
    np.testing.assert_allclose(est.proba_, np.array([p[i] for i in range(60)]), atol=1e-10)
    np.testing.assert_allclose(est.worker_confusion_, np.array([c[j] for j in range(7)]), atol=1e-10)


def test_confidence_is_the_max_posterior_rounded_to_two_places(make_crowd):
    crowd = make_crowd(n_items=80, seed=12)
    est = scoring.estimator("gt-modified-ds").fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    np.testing.assert_array_equal(est.confidence_, np.round(est.proba_.max(axis=1), 2))
    assert est.n_iter_ <= 20
    assert not np.array_equal(est.confidence_, est.proba_.max(axis=1))
