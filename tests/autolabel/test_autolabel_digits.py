"""The loop end to end on a small real dataset (scikit-learn's digits) with a simulated crowd
whose answers are consolidated by scoring, as the daemon does."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from broker.autolabel import AutoLabelConfig
from broker.autolabel.simulation import Crowd, simulate, simulate_all_human


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return data.data / 16.0, data.target


def test_crowd_mix_answers_like_its_workers():
    crowd = Crowd.mix(60, seed=0)
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, 3000)
    items, workers, labels = crowd.answer(np.arange(3000), truth, 3, 10, rng)
    assert items.size == 9000
    per_object = workers.reshape(3000, 3)
    assert np.all(per_object[:, 0] != per_object[:, 1]) and np.all(per_object[:, 1] != per_object[:, 2])
    spam = crowd.spammer[workers]
    assert 0.05 < spam.mean() < 0.3
    assert abs((labels[spam] == truth[items][spam]).mean() - 0.1) < 0.03  # spammers guess
    good = crowd.accuracy[workers] > 0.85
    assert abs((labels[good & ~spam] == truth[items][good & ~spam]).mean() - 0.93) < 0.02


def test_loop_on_digits_with_the_default_consolidation(digits):
    features, truth = digits
    crowd = Crowd.mix(60, seed=1)
    config = AutoLabelConfig(validation_workers_per_object=5)
    result = simulate(features, truth, config, crowd, consolidation="default", seed=1)
    assert result.reason == "all-labeled" and result.unlabeled_objects == 0
    assert result.human_objects + result.machine_objects == 1797
    assert result.machine_objects > 0 and result.machine_accuracy >= 0.95
    baseline = simulate_all_human(truth, crowd, consolidation="default", seed=1)
    assert result.overall_accuracy >= baseline.overall_accuracy
    assert result.cost.cost_cents < baseline.cost.cost_cents


def test_loop_on_digits_saves_most_of_the_cost_with_a_calibrated_crowd_model(digits):
    features, truth = digits
    crowd = Crowd.mix(60, seed=2)
    config = AutoLabelConfig(validation_workers_per_object=5, validation_fraction=0.12)
    result = simulate(features, truth, config, crowd, consolidation="one-coin", seed=2)
    baseline = simulate_all_human(truth, crowd, consolidation="one-coin", seed=2)
    assert result.machine_objects / 1797 > 0.5 and result.cost.saved_fraction > 0.5
    assert result.machine_accuracy >= 0.95
    assert result.overall_accuracy >= baseline.overall_accuracy
    assert result.iterations[0].n_validation == 216
    labeling = [r for r in result.iterations if r.machine_labels]
    assert labeling and all(r.threshold_lower_bound >= 0.95 for r in labeling)


def test_ground_truths_definition_cannot_certify_machine_labels_against_a_93_percent_crowd(digits):
    """Agreement with crowd labels, never asked again where the model contradicts them, is capped by
    the crowd's own accuracy: nothing is machine-labeled."""
    features, truth = digits
    crowd = Crowd.mix(60, seed=2)
    config = AutoLabelConfig(accuracy_against="crowd-labels", validation_fraction=0.12, dispute_answers=0)
    result = simulate(features[:900], truth[:900], config, crowd, consolidation="one-coin", seed=2)
    assert result.human_accuracy < 0.95
    assert result.machine_objects == 0 and result.human_objects == 900


def test_label_spreading_saves_most_of_the_cost_on_digits(digits):
    """The benchmark's digits settings: a 7% validation set, batches of 80, label spreading."""
    features, truth = digits
    crowd = Crowd.mix(60, seed=2)
    config = AutoLabelConfig(model="label-spreading", validation_fraction=0.07, human_batch_size=80)
    result = simulate(features, truth, config, crowd, seed=2)
    baseline = simulate_all_human(truth, crowd, seed=2)
    assert result.reason == "all-labeled" and result.unlabeled_objects == 0
    assert result.cost.saved_fraction >= 0.7
    assert result.machine_accuracy >= 0.95
    assert result.overall_accuracy >= baseline.overall_accuracy
    assert result.iterations[0].n_cross_fit == result.iterations[0].n_train == 80
