"""The loop as a state machine: batches, machine labels, stopping conditions, persistence."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import joblib
import numpy as np
import pytest

from broker.autolabel import AutoLabelConfig, AutoLabeler
from broker.autolabel.model import predict
from broker.output import output_line
from broker.spec import parse_job_spec

# The loop's mechanics, with each iteration tested on its own so that the first one labels already;
# the job's shared error budget (the default: the first model is never tested) is test_error_budget.py's.
CONFIG = AutoLabelConfig(
    validation_fraction=0.25, initial_batch_size=300, human_batch_size=40, error_budget="per-iteration"
)


def run_to_end(labeler: AutoLabeler, truth: np.ndarray, crowd, budget: int | None = None) -> dict:
    human: dict[int, tuple[int, float]] = {}
    for _ in range(100):
        left = None if budget is None else budget - len(labeler.requested)
        batch = labeler.next_human_batch(human, left)
        if labeler.done:
            break
        human.update(crowd(batch, truth))
        if labeler.iterate(human).done:
            break
    return human


def test_first_batch_is_random_and_holds_the_validation_set(blobs):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3, seed=1)
    batch = labeler.next_human_batch({})
    assert len(batch) == 300 == len(set(batch))
    assert set(labeler.validation_ids) <= set(batch) and len(labeler.validation_ids) == 150
    other = AutoLabeler(CONFIG, 600, features, 3, seed=2).next_human_batch({})
    assert batch != other  # the seed decides the sample
    assert max(batch) > 450 and min(batch) < 150  # spread over the job, not its first lines


def test_iteration_machine_labels_sure_objects_and_sends_the_least_sure_to_humans(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    human = perfect_crowd(labeler.next_human_batch({}), truth)
    result = labeler.iterate(human)
    assert result.iteration == 1 and result.n_validation == 150 and result.n_train == 150
    assert result.threshold is not None and result.threshold_lower_bound >= 0.95
    assert result.machine_count == len(result.machine_labels) > 100
    assert not set(result.machine_labels) & set(human)
    assert all(conf >= result.threshold for _, conf in result.machine_labels.values())
    machine_accuracy = np.mean([truth[i] == label for i, (label, _) in result.machine_labels.items()])
    assert machine_accuracy >= 0.95

    batch = labeler.next_human_batch(human)
    unlabeled = np.setdiff1d(np.arange(600), list(human) + list(result.machine_labels))
    assert len(batch) == 40 and set(batch) <= set(unlabeled.tolist())
    margin = predict(labeler.model_, features[unlabeled], 3).margin
    # the batch is the 40 unlabeled objects with the smallest top-1 / top-2 margin
    least_sure = unlabeled[np.argsort(margin, kind="stable")[:40]]
    assert set(batch) == set(least_sure.tolist())


def test_loop_labels_every_object_once(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    human = run_to_end(labeler, truth, perfect_crowd)
    assert labeler.done and labeler.reason == "all-labeled"
    machine = labeler.machine_labels
    assert not set(human) & set(machine)
    assert len(human) + len(machine) == 600
    assert len(human) == len(labeler.requested)
    last = labeler.iterations[-1]
    assert (last.human_count, last.machine_count) == (len(human), len(machine))
    assert [r.iteration for r in labeler.iterations] == list(range(1, len(labeler.iterations) + 1))
    assert labeler.next_human_batch(human) == []


def test_without_signal_everything_goes_to_the_crowd(perfect_crowd):
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 400)
    noise = rng.normal(size=(400, 5))  # features unrelated to the labels
    labeler = AutoLabeler(AutoLabelConfig(human_batch_size=50), 400, noise, 3)
    human = run_to_end(labeler, truth, perfect_crowd)
    assert labeler.machine_labels == {} and len(human) == 400 and labeler.reason == "all-labeled"
    assert all(r.threshold is None for r in labeler.iterations)


def test_max_human_labeled_objects_stops_the_loop(blobs, perfect_crowd):
    features, truth = blobs
    config = CONFIG.model_copy(update={"max_human_labeled_objects": 320})
    labeler = AutoLabeler(config, 600, features, 3)
    human = run_to_end(labeler, truth, perfect_crowd)
    assert len(labeler.requested) == 320 == len(human)
    assert labeler.done and labeler.reason == "max-human-labeled-objects"
    assert len(human) + len(labeler.machine_labels) < 600  # the rest stays unlabeled


def test_max_percentage_labeled_stops_the_loop(blobs, perfect_crowd):
    features, truth = blobs
    config = CONFIG.model_copy(update={"max_percentage_labeled": 60.0})
    labeler = AutoLabeler(config, 600, features, 3)
    human = run_to_end(labeler, truth, perfect_crowd)
    assert len(human) + len(labeler.machine_labels) == 360
    assert labeler.done and labeler.reason == "max-percentage-labeled"


def test_budget_ends_the_loop_once_nothing_is_pending(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    batch = labeler.next_human_batch({}, budget_left_objects=100)
    assert len(batch) == 100  # the first batch is cut to what the budget pays for
    assert labeler.next_human_batch({}, budget_left_objects=0) == [] and not labeler.done  # 100 pending
    human = perfect_crowd(batch, truth)
    labeler.iterate(human)
    assert labeler.next_human_batch(human, budget_left_objects=0) == []
    assert labeler.done and labeler.reason == "budget-exhausted"


def test_a_failing_first_batch_fails_the_job(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    batch = labeler.next_human_batch({})
    failed, answered = batch[:31], batch[31:]  # 31 of 300 > 10%
    result = labeler.iterate(perfect_crowd(answered, truth), failed=failed)
    assert result.done and result.reason == "initial-batch-failed" and result.machine_labels == {}
    assert labeler.next_human_batch(perfect_crowd(answered, truth)) == []

    ok = AutoLabeler(CONFIG, 600, features, 3)
    batch = ok.next_human_batch({})
    result = ok.iterate(perfect_crowd(batch[30:], truth), failed=batch[:30])  # exactly 10%: fine
    assert not result.done and result.machine_count > 0
    assert not set(batch[:30]) & set(ok.machine_labels)  # failed objects are not machine-labeled


def test_state_round_trip_continues_identically(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3, seed=5)
    human = perfect_crowd(labeler.next_human_batch({}), truth)
    labeler.iterate(human)
    state = json.loads(json.dumps(labeler.state_dict()))  # what the daemon stores
    restored = AutoLabeler.from_state(state, features)
    assert restored.machine_labels == labeler.machine_labels
    assert restored.iterations == labeler.iterations
    assert restored.next_human_batch(human) == labeler.next_human_batch(human)
    human.update(perfect_crowd(labeler.requested[300:], truth))
    assert restored.iterate(human) == labeler.iterate(human)
    with pytest.raises(ValueError, match="version"):
        AutoLabeler.from_state({**state, "version": 99}, features)


def test_save_model_writes_a_loadable_scikit_learn_model(blobs, perfect_crowd, tmp_path):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    with pytest.raises(ValueError, match="no model"):
        labeler.save_model(tmp_path / "model.joblib")
    labeler.iterate(perfect_crowd(labeler.next_human_batch({}), truth))
    path = labeler.save_model(tmp_path / "job" / "model.joblib")
    loaded = joblib.load(path)
    assert np.array_equal(loaded.predict(features), labeler.model_.predict(features))


def test_machine_labels_are_written_as_not_human_annotated(blobs, perfect_crowd, spec_text):
    features, truth = blobs
    spec = parse_job_spec(
        spec_text + "auto_label:\n  target_accuracy: 0.95\n  error_budget: per-iteration\n  test_gate: label-change\n",
        "job.yaml",
    )
    labeler = AutoLabeler(spec.auto_label, 600, features, 3)
    human = perfect_crowd(labeler.next_human_batch({}), truth)
    result = labeler.iterate(human)
    results = labeler.object_results(human)
    now = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    machine_index = next(iter(result.machine_labels))
    human_index = next(iter(human))
    line = output_line(spec, {"source-ref": "s3://b/m.png"}, results[machine_index], now)
    metadata = line["digits-auto-metadata"]
    assert line["digits-auto"] == result.machine_labels[machine_index][0]
    assert metadata["human-annotated"] == "no"
    assert metadata["confidence"] == round(result.machine_labels[machine_index][1], 2)
    assert metadata["class-name"] == spec.labels[line["digits-auto"]]
    human_line = output_line(spec, {"source-ref": "s3://b/h.png"}, results[human_index], now)
    assert human_line["digits-auto-metadata"]["human-annotated"] == "yes"


def test_bad_calls_are_refused(blobs):
    features, truth = blobs
    with pytest.raises(ValueError, match="rows"):
        AutoLabeler(CONFIG, 500, features, 3)
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    with pytest.raises(ValueError, match="classes 0..2"):
        labeler.iterate({0: (7, 1.0)})
    with pytest.raises(ValueError, match="objects 0..599"):
        labeler.next_human_batch({600: 1})


def test_sizes_follow_ground_truths_rules():
    config = AutoLabelConfig()
    assert config.validation_size(1797) == 359  # 20% below 5,000 objects
    assert config.validation_size(20_000) == 2000  # 10% above
    assert config.batch_size(20_000, 10) == 1000  # Ground Truth console's MaxConcurrentTaskCount
    assert config.batch_size(1797, 10) == 100
    assert config.first_batch_size(1797, 10) == 459


def test_labels_for_objects_never_asked_for_are_adopted(blobs, perfect_crowd):
    """A daemon that published a batch and stopped before saving the loop's state still has the
    crowd's labels: the loop takes them as human-labeled instead of asking for them again."""
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    early = perfect_crowd([1, 2, 3], truth)
    batch = labeler.next_human_batch(early)
    assert {1, 2, 3} <= set(labeler.requested) and not {1, 2, 3} & set(batch)
    assert len(batch) == 300 and labeler.first_batch == batch
    human = {**early, **perfect_crowd(batch, truth)}
    result = labeler.iterate(human)
    assert result.human_count == 303 and not {1, 2, 3} & set(result.machine_labels)


def test_validation_objects_may_get_more_answers(blobs):
    features, _ = blobs
    labeler = AutoLabeler(CONFIG.model_copy(update={"validation_workers_per_object": 5}), 600, features, 3)
    batch = labeler.next_human_batch({})
    counts = {index: labeler.workers_for(index, 3) for index in batch}
    assert sorted(counts.values()).count(5) == 150 == len(labeler.validation_ids)
    assert all(counts[index] == 5 for index in labeler.validation_ids)
    assert AutoLabeler(CONFIG, 600, features, 3).workers_for(batch[0], 3) == 3


def test_iterating_after_the_end_changes_nothing(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    human = run_to_end(labeler, truth, perfect_crowd)
    count = len(labeler.iterations)
    assert labeler.iterate(human) is labeler.iterations[-1] and len(labeler.iterations) == count


def test_cost_saved_uses_mturk_fees_and_the_extra_validation_answers(blobs, perfect_crowd):
    from broker.autolabel import cost_summary
    from broker.autolabel.report import iteration_table

    # 2 cents x 3 assignments + 1 cent minimum fee each = 9 cents per object; 5 assignments = 15
    summary = cost_summary(
        100,
        human_objects=30,
        machine_objects=70,
        reward_cents=2,
        workers_per_object=3,
        validation_objects=10,
        validation_workers_per_object=5,
    )
    assert (summary.cost_cents, summary.all_human_cost_cents, summary.saved_cents) == (20 * 9 + 10 * 15, 900, 570)
    assert summary.to_dict()["saved_fraction"] == pytest.approx(570 / 900, abs=1e-4)
    # 4 disputed objects asked again: one more HIT of 2 assignments each (2 x 2 + 2 x 1 cent fee = 6)
    again = cost_summary(
        100, 30, 70, 2, 3, validation_objects=10, validation_workers_per_object=5, asked_again=4, answers_again=2
    )
    assert again.cost_cents == summary.cost_cents + 4 * 6
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    labeler.iterate(perfect_crowd(labeler.next_human_batch({}), truth))
    row = iteration_table(labeler.iterations)[0]
    assert row["new_machine_labels"] == row["machine_count"] > 0 and "machine_labels" not in row
    assert json.dumps(row)  # plain data for `broker status --json` and the job report


def test_text_classification_with_tfidf_features(perfect_crowd):
    """Sparse TF-IDF features go through the same loop (scaled without centring)."""
    from broker.autolabel.features import manifest_features

    rng = np.random.default_rng(4)
    words = [["goal", "match", "team", "league", "coach"], ["vote", "party", "election", "senate", "law"]]
    filler = ["the", "a", "today", "news", "report", "about", "new"]
    truth = rng.integers(0, 2, 400)
    texts = [" ".join(rng.choice(words[label] * 1 + filler, 8)) for label in truth]
    config = AutoLabelConfig(features="tfidf", validation_fraction=0.25, initial_batch_size=200, human_batch_size=40)
    # (the default shared error budget: the first model is not tested, the next ones are)
    features = manifest_features(config, [{"source": text} for text in texts])
    labeler = AutoLabeler(config, 400, features, 2)
    human = run_to_end(labeler, truth, perfect_crowd)
    machine = labeler.machine_labels
    assert labeler.reason == "all-labeled" and len(human) + len(machine) == 400
    assert len(machine) > 100
    assert np.mean([truth[i] == label for i, (label, _) in machine.items()]) >= 0.95


def test_cross_fitting_judges_the_first_batchs_training_objects_too(blobs, perfect_crowd):
    """40 validation objects can never show 95% at level 0.95 (40 right of 40 bounds at 0.928);
    with the 110 training objects of the random first batch judged out-of-fold and pooled into the
    test (test_gate: label-change) there is evidence enough, and the machine labels it allows are right."""
    features, truth = blobs
    config = AutoLabelConfig(
        validation_fraction=40 / 600,
        initial_batch_size=150,
        human_batch_size=40,
        error_budget="per-iteration",
        test_gate="label-change",
    )
    alone = AutoLabeler(config.model_copy(update={"cross_fit_folds": 0}), 600, features, 3)
    result = alone.iterate(perfect_crowd(alone.next_human_batch({}), truth))
    assert (result.n_validation, result.n_cross_fit, result.threshold) == (40, 0, None)

    labeler = AutoLabeler(config, 600, features, 3)
    result = labeler.iterate(perfect_crowd(labeler.next_human_batch({}), truth))
    assert (result.n_validation, result.n_cross_fit) == (40, 110)
    assert result.threshold is not None and result.threshold_lower_bound >= 0.95
    machine = result.machine_labels
    assert len(machine) > 100
    assert np.mean([truth[i] == label for i, (label, _) in machine.items()]) >= 0.95
    # the judged objects at or above the threshold retire with the validation objects at it
    retired = set(labeler.validation_retired)
    training_retired = retired - set(labeler.validation_ids)
    assert training_retired and training_retired <= set(labeler.first_batch)


def test_retired_first_batch_objects_are_not_judged_again(blobs, perfect_crowd):
    features, truth = blobs
    config = AutoLabelConfig(
        validation_fraction=40 / 600,
        initial_batch_size=150,
        human_batch_size=40,
        error_budget="per-iteration",
        test_gate="label-change",
    )
    labeler = AutoLabeler(config, 600, features, 3)
    human = perfect_crowd(labeler.next_human_batch({}), truth)
    first = labeler.iterate(human)
    retired_training = len(set(labeler.validation_retired) - set(labeler.validation_ids))
    assert first.threshold is not None and retired_training > 0
    human.update(perfect_crowd(labeler.next_human_batch(human), truth))
    second = labeler.iterate(human)
    assert second.n_cross_fit == first.n_cross_fit - retired_training
    # the state keeps what was retired, so a restarted daemon judges the same objects
    again = AutoLabeler.from_state(json.loads(json.dumps(labeler.state_dict())), features)
    assert again.validation_retired == labeler.validation_retired
    assert again.iterations[-1].n_cross_fit == second.n_cross_fit


def test_validation_labels_the_model_contradicts_are_asked_again_once(blobs, perfect_crowd):
    """The crowd got 10 validation objects wrong: the model (right on them) disagrees, they are sent
    for more answers, and once the crowd has corrected them they count for the model."""
    features, truth = blobs
    labeler = AutoLabeler(CONFIG, 600, features, 3)
    human = perfect_crowd(labeler.next_human_batch({}), truth)
    wrong = [i for i in labeler.validation_ids if abs(features[i] - [0.0, 0.0]).max() < 1.0 and truth[i] == 0][:10]
    assert len(wrong) == 10
    for index in wrong:
        human[index] = (1, 0.7)
    first = labeler.iterate(human)
    assert set(wrong) <= set(labeler.asking_again) and first.asked_again == len(labeler.asking_again)
    assert all(labeler.asked_again[i] == CONFIG.dispute_answers == 2 for i in labeler.asking_again)
    human.update(perfect_crowd(labeler.asking_again, truth))  # the crowd, asked again, gets them right
    human.update(perfect_crowd(labeler.next_human_batch(human), truth))
    second = labeler.iterate(human)
    assert not set(labeler.asking_again) & set(wrong)  # once each
    assert second.validation_accuracy >= first.validation_accuracy + 8 / 150  # the corrected ones count for it
    restored = AutoLabeler.from_state(json.loads(json.dumps(labeler.state_dict())), features)
    assert restored.asked_again == labeler.asked_again and restored.asking_again == labeler.asking_again


def test_no_label_is_asked_again_when_the_setting_is_off_or_the_loop_is_done(blobs, perfect_crowd):
    features, truth = blobs
    labeler = AutoLabeler(CONFIG.model_copy(update={"dispute_answers": 0}), 600, features, 3)
    human = perfect_crowd(labeler.next_human_batch({}), truth)
    for index in labeler.validation_ids[:20]:
        human[index] = ((truth[index] + 1) % 3, 0.7)
    labeler.iterate(human)
    assert labeler.asking_again == [] and labeler.asked_again == {}
    done = AutoLabeler(CONFIG, 600, features, 3)
    human = run_to_end(done, truth, perfect_crowd)
    assert done.done and done.asking_again == []
