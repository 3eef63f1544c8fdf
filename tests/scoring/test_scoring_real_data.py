"""On real crowd data with gold (skips in a user's clone without ../shared/datasets)."""

from __future__ import annotations

import numpy as np

import scoring


def accuracy(name, dataset):
    items, workers, labels, k, gold_items, gold_labels = dataset
    est = scoring.estimator(name).fit(items, workers, labels, n_classes=k)
    return float(np.mean(est.labels_[gold_items] == gold_labels))


def test_default_beats_majority_vote_on_zheng_product(real_dataset):
    data = real_dataset("zheng_product")
    assert accuracy("default", data) > accuracy("majority", data) + 0.03


def test_bayesian_ds_beats_plain_dawid_skene_with_sparse_workers_on_act_cf(real_dataset):
    # 461 workers with a median of 2 answers each: plain DS falls below majority vote here
    data = real_dataset("act_cf")
    assert accuracy("bayesian-ds", data) > accuracy("dawid-skene", data) + 0.03
    assert accuracy("bayesian-ds", data) >= accuracy("majority", data)
