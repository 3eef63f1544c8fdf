"""The estimator registry and the fit contract shared by every classification estimator."""

from __future__ import annotations

import numpy as np
import pytest

import scoring
from scoring import AnswersError

NAMES = ["majority", "dawid-skene", "one-coin", "gt-modified-ds", "bayesian-ds", "ebcc"]


def test_registry_returns_fresh_estimators_by_name():
    assert set(NAMES) <= set(scoring.ESTIMATORS)
    first, second = scoring.estimator("dawid-skene"), scoring.estimator("dawid-skene")
    assert isinstance(first, scoring.DawidSkene) and first is not second
    assert isinstance(scoring.estimator("default"), scoring.ESTIMATORS[scoring.DEFAULT])
    assert scoring.estimator("dawid-skene", max_iter=3).max_iter == 3


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown scoring estimator 'nope'.*dawid-skene"):
        scoring.estimator("nope")


def test_scoring_never_imports_broker():
    import subprocess
    import sys

    code = "import sys, scoring; scoring.estimator('default'); print(any(m.startswith('broker') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", NAMES)
def test_fitted_attributes_have_the_documented_shapes(name, crowd):
    est = scoring.estimator(name)
    assert est.fit(crowd.items, crowd.workers, crowd.labels, n_classes=3, n_items=410, n_workers=15) is est
    assert est.labels_.shape == (410,) and est.labels_.dtype.kind == "i"
    assert est.proba_.shape == (410, 3)
    np.testing.assert_allclose(est.proba_.sum(axis=1), 1.0)
    assert est.confidence_.shape == (410,)
    assert est.worker_confusion_.shape == (15, 3, 3)
    np.testing.assert_allclose(est.worker_confusion_.sum(axis=2), 1.0)
    assert est.worker_accuracy_.shape == (15,)
    assert np.all((est.worker_accuracy_ >= 0) & (est.worker_accuracy_ <= 1))
    assert isinstance(est.n_iter_, int)
    # items 400..409 have no answers
    assert np.all(est.labels_[400:] == -1) and np.all(est.confidence_[400:] == 0.0)
    answered = est.labels_[:400]
    assert np.all(answered >= 0)
    np.testing.assert_allclose(est.confidence_[:400], est.proba_[:400].max(axis=1), atol=0.005)
    assert np.mean(answered == crowd.truth) > 0.8


def test_n_items_default_to_max_code_plus_one(crowd):
    est = scoring.estimator("dawid-skene").fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    assert est.proba_.shape == (crowd.items.max() + 1, 3)
    assert est.worker_confusion_.shape[0] == crowd.workers.max() + 1


@pytest.mark.parametrize("name", NAMES)
def test_empty_input_is_a_clear_error(name):
    with pytest.raises(AnswersError, match="no answers to consolidate"):
        scoring.estimator(name).fit([], [], [], n_classes=2)


def test_bad_input_names_the_argument_and_position():
    with pytest.raises(AnswersError, match=r"labels\[2\] = 5 is >= n_classes = 3"):
        scoring.estimator("default").fit([0, 1, 2], [0, 0, 0], [0, 1, 5], n_classes=3)
    with pytest.raises(AnswersError, match="same length"):
        scoring.estimator("default").fit([0, 1], [0, 0, 0], [0, 1, 1], n_classes=2)
    with pytest.raises(AnswersError, match=r"workers\[1\] = -1 is negative"):
        scoring.estimator("default").fit([0, 1], [0, -1], [0, 1], n_classes=2)
    with pytest.raises(AnswersError, match="integer codes"):
        scoring.estimator("default").fit([0, 1], [0, 1], [0.5, 1], n_classes=2)
    with pytest.raises(AnswersError, match=r"items\[1\] = 7 is >= n_items = 5"):
        scoring.estimator("default").fit([0, 7], [0, 1], [0, 1], n_classes=2, n_items=5)
    with pytest.raises(AnswersError, match=r"gold_labels\[0\] = 4 is >= n_classes = 2"):
        scoring.estimator("default").fit([0, 1], [0, 1], [0, 1], n_classes=2, gold_items=[0], gold_labels=[4])


def test_refit_replaces_all_learned_state(crowd):
    est = scoring.estimator("default")
    est.fit(crowd.items, crowd.workers, crowd.labels, n_classes=3)
    est.fit([0, 0, 1], [0, 1, 0], [1, 1, 0], n_classes=2)
    assert est.proba_.shape == (2, 2) and est.worker_confusion_.shape == (2, 2, 2)
    assert est.class_prior_.shape == (2,)
    assert list(est.labels_) == [1, 0]
