"""The models behind the loop: label spreading's use of unlabeled objects, and predictions that
stay finite where no label reached."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits, make_moons

from broker.autolabel.model import build_model, predict, train


def test_label_spreading_learns_from_the_unlabeled_objects():
    """scikit-learn's digits with 80 labels: the neighbourhoods of the 1,717 unlabeled images
    carry the labels further than a supervised model trained on the 80 can reach."""
    data = load_digits()
    features, truth = data.data / 16.0, data.target
    accuracies = []
    for seed in range(3):
        training = np.random.default_rng(seed).permutation(truth.size)[:80]
        rest = np.setdiff1d(np.arange(truth.size), training)
        for name in ("label-spreading", "logistic-regression"):
            model = train(build_model(name, 0), features, training, truth[training])
            accuracies.append((predict(model, features[rest], 10).labels == truth[rest]).mean())
    spread, supervised = np.mean(accuracies[0::2]), np.mean(accuracies[1::2])
    assert spread >= 0.92
    assert spread - supervised >= 0.05


def test_label_spreading_sees_only_the_training_labels():
    """Rows outside `training` enter the graph unlabeled: their labels cannot reach the model, so
    flipping them changes nothing (the validation set stays held out)."""
    features, truth = make_moons(300, noise=0.05, random_state=1)
    training = np.arange(0, 300, 10)
    flipped = 1 - truth
    flipped[training] = truth[training]
    first = train(build_model("label-spreading", 0), features, training, truth[training])
    second = train(build_model("label-spreading", 0), features, training, flipped[training])
    assert np.array_equal(predict(first, features, 2).confidence, predict(second, features, 2).confidence)
    assert first[-1].transduction_.shape == (300,)
    assert np.array_equal(first[-1].transduction_[training], truth[training])


def test_objects_no_label_reaches_get_a_uniform_low_confidence():
    """A far cluster with no labeled member has no labeled neighbour: uniform, not NaN, so the
    threshold never machine-labels it and the crowd gets it."""
    rng = np.random.default_rng(2)
    near = rng.normal(0.0, 0.3, (200, 2))
    far = rng.normal(100.0, 0.3, (20, 2))
    features = np.vstack([near, far])
    labels = (near[:, 0] > 0).astype(int)
    training = np.arange(0, 200, 4)
    model = train(build_model("label-spreading", 0), features, training, labels[training])
    predicted = predict(model, features, 3)
    assert np.isfinite(predicted.confidence).all()
    assert np.allclose(predicted.confidence[200:], 1 / 3)
    assert predicted.confidence[:200].min() > 1 / 3
