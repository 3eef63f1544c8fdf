"""One error budget for the whole job: the tests of all its iterations share 1 - confidence_level."""

from __future__ import annotations

import json

import numpy as np
import pytest

from broker.autolabel import AutoLabelConfig, AutoLabeler
from broker.autolabel.report import guarantee, iteration_message
from broker.autolabel.threshold import ErrorBudget, choose_threshold

CONFIG = AutoLabelConfig(validation_fraction=0.25, initial_batch_size=300, human_batch_size=40)


def test_each_test_has_its_own_share_and_a_passing_test_hands_its_level_on():
    budget = ErrorBudget(0.05)
    assert budget.next_alpha() == pytest.approx(0.025)
    budget.book(0.025, passed=False)  # used up
    assert budget.next_alpha() == pytest.approx(0.0125)
    budget.book(0.0125, passed=True)  # made its claim: its level goes on
    assert budget.next_alpha() == pytest.approx(0.00625 + 0.0125)
    budget.book(budget.next_alpha(), passed=True)
    assert budget.next_alpha() == pytest.approx(0.003125 + 0.00625 + 0.0125)
    budget.book(budget.next_alpha(), passed=False)
    assert budget.next_alpha() == pytest.approx(0.05 / 32)
    # the own shares of any number of tests add up to at most the budget
    assert sum(0.05 * 0.5**j for j in range(1, 60)) <= 0.05
    assert ErrorBudget(0.05, shared=False).next_alpha() == 0.05


def any_wrong_claim(rng: np.random.Generator, shared: bool, iterations: int = 4) -> bool:
    """A job whose every model is 94% right (below the 95% target) at every threshold, tested on 300
    fresh validation objects per iteration: does any of its tests claim 95%?"""
    budget = ErrorBudget(0.05, shared)
    claimed = False
    for _ in range(iterations):
        alpha = budget.next_alpha()
        choice = choose_threshold(rng.random(300), rng.random(300) < 0.94, target=0.95, level=1 - alpha)
        budget.book(alpha, passed=choice is not None)
        claimed |= choice is not None
    return claimed


def test_the_shared_budget_keeps_the_chance_of_any_wrong_claim_within_it_where_per_iteration_tests_do_not():
    rng = np.random.default_rng(0)
    jobs = 2000
    slack = 2 * np.sqrt(0.05 * 0.95 / jobs)  # two standard errors of the simulation itself
    shared = np.mean([any_wrong_claim(rng, shared=True) for _ in range(jobs)])
    alone = np.mean([any_wrong_claim(rng, shared=False) for _ in range(jobs)])
    assert shared <= 0.05 + slack
    assert alone > 0.05 + 3 * slack  # four tests at 95% each: some test claims far more often


def test_the_first_model_is_not_tested_and_a_settled_one_is(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    human = perfect_crowd(labeler.next_human_batch({}), truth)
    first = labeler.iterate(human)
    assert first.label_change is None and first.level is None
    assert first.threshold is None and first.machine_labels == {} and labeler.budget.tests == 0
    assert "no threshold" not in iteration_message(first.summary())
    human.update(perfect_crowd(labeler.next_human_batch(human), truth))
    second = labeler.iterate(human)
    assert second.label_change is not None and second.label_change <= 0.1
    assert second.level == pytest.approx(0.975)  # the first test: half the budget
    assert second.threshold is not None and second.threshold_lower_bound >= 0.95
    assert second.evidence >= 59 and second.evidence_accuracy >= second.threshold_lower_bound
    assert len(second.machine_labels) > 100
    assert np.mean([truth[i] == label for i, (label, _) in second.machine_labels.items()]) >= 0.95
    message = iteration_message(second.summary())
    assert "tested at 97.50%" in message and f"on {second.evidence} validation objects" in message


def test_a_model_whose_labels_still_move_is_not_tested(blobs, perfect_crowd):
    features, truth = blobs
    config = CONFIG.model_copy(update={"max_label_change": 1e-9})  # no model is ever settled enough
    labeler = AutoLabeler(config, 600, features, 3)
    human: dict[int, tuple[int, float]] = {}
    for _ in range(3):
        human.update(perfect_crowd(labeler.next_human_batch(human), truth))
        labeler.iterate(human)
    assert labeler.machine_labels == {} and labeler.budget.tests == 0
    changed = [r for r in labeler.iterations if r.label_change]
    assert changed and "not tested: the model changed" in iteration_message(changed[0].summary())


def test_a_test_predicted_to_fail_on_the_cross_fitted_objects_is_not_run_and_spends_nothing(perfect_crowd):
    """Features that say nothing about the label: the model is a third right on the first batch's
    training objects judged out-of-fold, so no test is worth running, and none is run."""
    rng = np.random.default_rng(1)
    features, truth = rng.normal(size=(600, 2)), rng.integers(0, 3, 600)
    # every model settled: only the gate decides
    config = CONFIG.model_copy(update={"max_label_change": 1.0, "test_gate": "predicted-pass"})
    labeler = AutoLabeler(config, 600, features, 3)
    human: dict[int, tuple[int, float]] = {}
    for _ in range(4):
        human.update(perfect_crowd(labeler.next_human_batch(human), truth))
        labeler.iterate(human)
    later = labeler.iterations[1:]
    assert all(r.gated and r.level == pytest.approx(0.975) and r.threshold is None for r in later)
    assert labeler.budget.tests == 0 and labeler.machine_labels == {}
    assert "not tested at 97.50%: judged out-of-fold on" in iteration_message(later[0].summary())
    # the same job with the old gate alone spends its budget on tests that fail
    spender = AutoLabeler(config.model_copy(update={"test_gate": "label-change"}), 600, features, 3)
    human = {}
    for _ in range(4):
        human.update(perfect_crowd(spender.next_human_batch(human), truth))
        spender.iterate(human)
    assert spender.budget.tests == 3 and spender.budget.next_alpha() == pytest.approx(0.05 / 16)


def test_the_budget_survives_a_restart_and_older_jobs_keep_testing_per_iteration(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3, seed=5)
    human = perfect_crowd(labeler.next_human_batch({}), truth)
    labeler.iterate(human)
    human.update(perfect_crowd(labeler.next_human_batch(human), truth))
    labeler.iterate(human)
    state = json.loads(json.dumps(labeler.state_dict()))
    restored = AutoLabeler.from_state(state, features)
    assert restored.budget == labeler.budget and restored.budget.tests == 1
    assert restored.previous_labels == labeler.previous_labels

    older = {key: value for key, value in state.items() if key not in ("budget", "previous_labels")}
    newer = ("error_budget", "max_label_change", "accuracy_against", "dispute_answers", "test_gate")
    older["config"] = {k: v for k, v in state["config"].items() if k not in newer}
    resumed = AutoLabeler.from_state(older, features)
    assert resumed.config.error_budget == "per-iteration" and resumed.budget.next_alpha() == pytest.approx(0.05)
    # ... and the estimator and gate they started with, never asking disputed labels again
    assert (resumed.config.accuracy_against, resumed.config.test_gate) == ("crowd-posterior", "label-change")
    assert resumed.config.dispute_answers == 0


def test_the_promise_in_one_sentence():
    assert guarantee(CONFIG.model_dump(mode="json")) == (
        "with 95% confidence, at least 95% of all the job's machine labels are right "
        "(one error budget shared by every iteration's test)"
    )
    assert "per iteration" in guarantee({"target_accuracy": 0.95, "confidence_level": 0.95})  # older jobs
