"""The threshold rule: a lower confidence bound on accuracy, judged on synthetic scores whose
accuracy curve is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from broker.autolabel.threshold import (
    choose_threshold,
    choose_threshold_noisy,
    clopper_pearson_lower,
    predicted_pass,
    wilson_lower,
)


def synthetic_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidence c ~ U(0, 1), right with probability 0.5 + 0.5c. The accuracy of the objects
    with c >= t is 0.75 + 0.25t, so the true 95% threshold is t = 0.8."""
    rng = np.random.default_rng(seed)
    confidence = rng.random(n)
    correct = rng.random(n) < 0.5 + 0.5 * confidence
    return confidence, correct


def true_accuracy_above(t: float) -> float:
    return 0.75 + 0.25 * t


def test_clopper_pearson_matches_scipy_exact_interval():
    for k, n in [(58, 58), (90, 100), (1, 10), (480, 500)]:
        expected = binomtest(k, n).proportion_ci(confidence_level=0.90, method="exact").low
        assert clopper_pearson_lower(np.array([k]), np.array([n]), 0.95)[0] == pytest.approx(expected, rel=1e-9)
    assert clopper_pearson_lower(np.array([0]), np.array([5]), 0.95)[0] == 0.0


def test_wilson_matches_scipy_wilson_interval():
    for k, n in [(90, 100), (480, 500), (10, 10)]:
        expected = binomtest(k, n).proportion_ci(confidence_level=0.90, method="wilson").low
        assert wilson_lower(np.array([k]), np.array([n]), 0.95)[0] == pytest.approx(expected, rel=1e-9)


def test_a_perfect_record_must_be_long_enough_to_prove_95_percent():
    # 58/58 reads as 100% but its 95% lower bound is 0.05 ** (1/58) = 0.9496 < 0.95; 59/59 passes
    assert choose_threshold(np.linspace(0.99, 0.5, 58), np.ones(58, bool)) is None
    choice = choose_threshold(np.linspace(0.99, 0.5, 59), np.ones(59, bool))
    assert choice is not None
    assert choice.n_at_or_above == 59 and choice.threshold == pytest.approx(0.5)
    assert choice.lower_bound == pytest.approx(0.05 ** (1 / 59))


def test_finds_the_known_threshold_on_a_large_validation_set():
    for seed in range(3):
        choice = choose_threshold(*synthetic_scores(50_000, seed), target=0.95)
        assert choice is not None
        # at or a little above the true threshold (the bound is conservative), never below it by much
        assert 0.79 <= choice.threshold <= 0.85
        assert true_accuracy_above(choice.threshold) >= 0.9475
        assert choice.lower_bound >= 0.95 and choice.accuracy >= choice.lower_bound


def test_the_lower_bound_protects_the_target_on_small_validation_sets():
    """With 400 validation objects the point estimate would often pick a threshold whose true
    accuracy is under 95%; the lower bound rarely does."""
    misses_bound = misses_point = 0
    runs = 300
    for seed in range(runs):
        confidence, correct = synthetic_scores(400, seed)
        bound_choice = choose_threshold(confidence, correct, target=0.95)
        if bound_choice is not None and true_accuracy_above(bound_choice.threshold) < 0.95:
            misses_bound += 1
        order = np.argsort(-confidence)
        running = np.cumsum(correct[order]) / np.arange(1, 401)
        passing = np.flatnonzero(running >= 0.95)
        if passing.size and true_accuracy_above(confidence[order][passing[-1]]) < 0.95:
            misses_point += 1
    assert misses_point > runs / 3
    assert misses_bound <= runs * 0.10


def test_tied_confidences_are_taken_together():
    # 100 right at 0.95, then 40 tied at 0.9 of which 20 are wrong: cutting inside the tie (after
    # its 20 right ones) would pass, but a threshold of 0.9 takes all 40, so it must stay 0.95
    confidence = np.r_[np.full(100, 0.95), np.full(40, 0.9)]
    correct = np.r_[np.ones(120, bool), np.zeros(20, bool)]
    choice = choose_threshold(confidence, correct)
    assert choice is not None
    assert choice.threshold == 0.95 and choice.n_at_or_above == 100


def test_nothing_qualifies_when_the_model_is_poor():
    rng = np.random.default_rng(1)
    assert choose_threshold(rng.random(1000), rng.random(1000) < 0.8) is None
    assert choose_threshold(np.array([]), np.array([], bool)) is None


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="same length"):
        choose_threshold(np.ones(3), np.ones(2, bool))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        choose_threshold(np.ones(2), np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="unknown bound"):
        choose_threshold(np.ones(2), np.ones(2, bool), bound="normal")


def noisy_crowd_case(n: int, crowd_accuracy: float, seed: int):
    """Machine accuracy curve 0.5 + 0.5c (true 95% threshold 0.8); crowd labels right with
    probability `crowd_accuracy`, wrong ones uniform over the other 9 classes."""
    rng = np.random.default_rng(seed)
    n_classes = 10
    truth = rng.integers(0, n_classes, n)
    confidence = rng.random(n)
    machine_right = rng.random(n) < 0.5 + 0.5 * confidence
    machine = np.where(machine_right, truth, (truth + rng.integers(1, n_classes, n)) % n_classes)
    crowd_right = rng.random(n) < crowd_accuracy
    crowd = np.where(crowd_right, truth, (truth + rng.integers(1, n_classes, n)) % n_classes)
    return confidence, machine == crowd, np.full(n, crowd_accuracy), n_classes


def test_agreement_with_a_90_percent_crowd_can_never_show_95_percent():
    confidence, agree, crowd_confidence, n_classes = noisy_crowd_case(20_000, 0.9, 0)
    assert choose_threshold(confidence, agree, target=0.95) is None
    choice = choose_threshold_noisy(confidence, agree, crowd_confidence, n_classes, target=0.95)
    assert choice is not None
    assert 0.78 <= choice.threshold <= 0.87
    assert true_accuracy_above(choice.threshold) >= 0.945


def test_noisy_rule_is_plain_agreement_for_certain_crowd_labels():
    confidence, correct = synthetic_scores(5000, 4)
    plain = choose_threshold(confidence, correct)
    noisy = choose_threshold_noisy(confidence, correct, np.ones(5000), n_classes=10)
    assert plain is not None and noisy is not None
    assert noisy.threshold == plain.threshold
    assert noisy.lower_bound == pytest.approx(plain.lower_bound)


def test_earlier_evidence_is_pooled_into_every_top_k():
    from broker.autolabel.threshold import Evidence, choose_threshold, choose_threshold_noisy

    confidence = np.linspace(0.99, 0.5, 20)
    correct = np.ones(20, dtype=bool)
    assert choose_threshold(confidence, correct) is None  # 20 of 20 cannot bound 95% at 95%
    right_before = Evidence(agree=np.ones(200), crowd_confidence=np.ones(200))
    pooled = choose_threshold(confidence, correct, earlier=right_before)
    assert pooled is not None and pooled.threshold == confidence[-1] and pooled.lower_bound >= 0.95
    # earlier machine labels that the crowd now contradicts keep every threshold out
    wrong_before = Evidence(agree=np.zeros(200), crowd_confidence=np.ones(200))
    assert choose_threshold(confidence, correct, earlier=wrong_before) is None
    # with confidence-1 crowd labels the noisy rule pools the same way
    noisy = choose_threshold_noisy(confidence, correct, np.ones(20), 10, earlier=right_before)
    assert noisy is not None and noisy.threshold == pooled.threshold


def test_a_test_is_predicted_to_pass_only_with_accurate_gate_objects_and_evidence_enough():
    rng = np.random.default_rng(3)
    evidence = rng.random(300)  # the test's evidence: confidences only, no label is passed
    gate = rng.random(200)
    accurate = rng.random(200) < 0.995
    assert predicted_pass(evidence, gate, accurate, target=0.95, level=0.975)
    # a model 90% right on the gate objects at every confidence: no test is worth running
    assert not predicted_pass(evidence, gate, rng.random(200) < 0.9, target=0.95, level=0.975)
    # 40 evidence objects can never show 95% at 97.5% (40 of 40 bounds at 0.916), however good the model
    assert not predicted_pass(evidence[:40], gate, np.ones(200), target=0.95, level=0.975)
    # ... unless earlier evidence adds to the count
    assert predicted_pass(evidence[:40], gate, np.ones(200), target=0.95, level=0.975, earlier=200)
    # no gate object: nothing to predict from
    assert not predicted_pass(evidence, np.zeros(0), np.zeros(0))


def test_the_prediction_reads_the_gate_objects_above_each_threshold():
    """Right above 0.8 and wrong below: a test is predicted to pass on the evidence above 0.8 when
    there is enough of it, and not when the evidence sits where the gate objects are wrong."""
    gate = np.linspace(0.0, 1.0, 500)
    right = gate >= 0.8
    assert predicted_pass(np.full(200, 0.9), gate, right, target=0.95, level=0.975)
    assert not predicted_pass(np.full(200, 0.5), gate, right, target=0.95, level=0.975)
