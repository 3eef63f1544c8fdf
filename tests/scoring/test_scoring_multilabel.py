"""Multi-label consolidation: Ground Truth's label-list + confidence-map layout, shared worker quality."""

from __future__ import annotations

import numpy as np
import pytest

import scoring
from scoring import AnswersError


def test_layout_orders_labels_by_confidence_and_rounds():
    # item 0: all three workers choose {0, 2}; worker 2 also chooses 1; item 1: all choose {1}
    items = [0, 0, 0, 1, 1, 1]
    workers = [0, 1, 2, 0, 1, 2]
    chosen = np.array([[1, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 0], [0, 1, 0], [0, 1, 0]], dtype=bool)
    est = scoring.MultiLabel().fit(items, workers, chosen, n_classes=3, n_items=3)
    assert sorted(est.labels_[0]) == [0, 2] and est.labels_[1] == [1] and est.labels_[2] == []
    assert est.confidence_map_[2] == {}
    for labels, conf in zip(est.labels_, est.confidence_map_):
        assert list(conf) == labels
        values = list(conf.values())
        assert values == sorted(values, reverse=True)
        assert all(v == round(v, 2) and 0.5 <= v <= 1 for v in values)
    assert est.proba_.shape == (3, 3)


def test_chosen_mode_lists_every_class_any_worker_chose_like_ground_truth():
    items = [0, 0, 0]
    workers = [0, 1, 2]
    chosen = np.array([[1, 0, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
    est = scoring.MultiLabel(keep="chosen").fit(items, workers, chosen, n_classes=3)
    assert set(est.labels_[0]) == {0, 1, 2}
    assert est.labels_[0][-1] == 1  # the least likely class last
    assert est.confidence_map_[0][1] < 0.5


def test_worker_quality_is_shared_across_classes_and_beats_majority():
    rng = np.random.default_rng(0)
    n_items, k, n_workers = 300, 6, 9
    truth = rng.random((n_items, k)) < 0.3
    flip = np.r_[np.full(6, 0.05), np.full(3, 0.45)]  # 3 near-random workers
    items = np.repeat(np.arange(n_items), 5)
    workers = np.concatenate([rng.choice(n_workers, 5, replace=False) for _ in range(n_items)])
    noise = rng.random((items.size, k)) < flip[workers][:, None]
    chosen = truth[items] ^ noise
    est = scoring.MultiLabel().fit(items, workers, chosen, n_classes=k)
    assert est.worker_accuracy_[6:].max() < est.worker_accuracy_[:6].min()
    predicted = est.proba_ >= 0.5
    votes = np.zeros((n_items, k))
    np.add.at(votes, items, chosen)
    majority = votes / np.bincount(items, minlength=n_items)[:, None] > 0.5
    assert np.mean(predicted == truth) > np.mean(majority == truth)
    assert est.worker_confusion_.shape == (n_workers, 2, 2)


def test_multilabel_input_errors():
    with pytest.raises(AnswersError, match=r"shape \(answers, 3\)"):
        scoring.MultiLabel().fit([0], [0], np.ones((1, 2), bool), n_classes=3)
    with pytest.raises(AnswersError, match="2 rows but there are 1 answers"):
        scoring.MultiLabel().fit([0], [0], np.ones((2, 3), bool), n_classes=3)
    with pytest.raises(AnswersError, match="no answers"):
        scoring.MultiLabel().fit([], [], np.ones((0, 3), bool), n_classes=3)
