"""Worker models: accuracy as specified, spammers and adversaries, boxes, time, price sensitivity."""

from __future__ import annotations

import numpy as np
import pytest

from broker.marketplace.crowd import models, pricing
from broker.marketplace.crowd.models import WorkerModelSpec

LABELS = ["cat", "dog", "bird", "fish"]
OBJECTS = [f"s3://bucket/img-{i}.jpg" for i in range(3000)]
TRUTH = [LABELS[i % len(LABELS)] for i in range(len(OBJECTS))]


def accuracy(spec: WorkerModelSpec, worker: int, seed: int = 7) -> float:
    answers = [models.answer_label(spec, LABELS, t, seed, worker, o) for o, t in zip(OBJECTS, TRUTH)]
    return float(np.mean(np.array(answers) == np.array(TRUTH)))


def test_confusion_matrix_worker_accuracy_matches_its_model() -> None:
    spec = WorkerModelSpec("good", accuracy=0.93)
    matrix = models.confusion_matrix(spec, len(LABELS), 7, 3, "\x1e".join(LABELS))
    assert np.allclose(matrix.sum(axis=1), 1.0)
    assert len({round(float(x), 6) for x in np.diag(matrix)}) > 1  # class-dependent
    assert accuracy(spec, 3) == pytest.approx(float(np.mean(np.diag(matrix))), abs=0.02)


def test_sloppy_workers_are_worse_than_good_ones() -> None:
    good = accuracy(WorkerModelSpec("good", accuracy=0.95), 1)
    sloppy = accuracy(WorkerModelSpec("sloppy", accuracy=0.7), 2)
    assert good > 0.9 and 0.62 < sloppy < 0.78


def test_uniform_constant_and_adversarial_spammers() -> None:
    assert accuracy(WorkerModelSpec("spammer", accuracy=0.0), 4) == pytest.approx(1 / len(LABELS), abs=0.03)
    constant = {
        models.answer_label(WorkerModelSpec("constant", 0.0), LABELS, t, 7, 5, o) for o, t in zip(OBJECTS, TRUTH)
    }
    assert len(constant) == 1
    assert accuracy(WorkerModelSpec("adversary", accuracy=0.1), 6) < 0.15


def test_answers_are_a_pure_function_of_seed_worker_and_object() -> None:
    spec = WorkerModelSpec("sloppy", accuracy=0.7)
    first = [models.answer_label(spec, LABELS, t, 11, 2, o) for o, t in zip(OBJECTS[:200], TRUTH[:200])]
    assert first == [models.answer_label(spec, LABELS, t, 11, 2, o) for o, t in zip(OBJECTS[:200], TRUTH[:200])]
    assert first != [models.answer_label(spec, LABELS, t, 12, 2, o) for o, t in zip(OBJECTS[:200], TRUTH[:200])]
    assert models.worker_specs(10, 3) == models.worker_specs(10, 3)


def test_mix_apportions_workers_and_rejects_bad_input() -> None:
    kinds = [s.kind for s in models.worker_specs(20, 1, "good=0.6,sloppy=0.25,spammer=0.15")]
    assert (kinds.count("good"), kinds.count("sloppy"), kinds.count("spammer")) == (12, 5, 3)
    with pytest.raises(ValueError, match="unknown worker model 'genius'"):
        models.parse_mix("genius=1")
    with pytest.raises(ValueError, match="not a number"):
        models.parse_mix("good=lots")


def test_without_truth_good_workers_agree_on_a_latent_label() -> None:
    spec = WorkerModelSpec("good", accuracy=0.97)
    answers = np.array([[models.answer_label(spec, LABELS, None, 5, w, o) for o in OBJECTS[:300]] for w in range(3)])
    agreement = np.mean((answers[0] == answers[1]) & (answers[1] == answers[2]))
    assert agreement > 0.8


def _iou(a: dict, b: dict) -> float:
    x1, y1 = max(a["left"], b["left"]), max(a["top"], b["top"])
    x2 = min(a["left"] + a["width"], b["left"] + b["width"])
    y2 = min(a["top"] + a["height"], b["top"] + b["height"])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / (a["width"] * a["height"] + b["width"] * b["height"] - inter)


def test_boxes_are_jittered_sometimes_missed_and_clipped() -> None:
    truth = models.box_truth(
        {
            "boundingBoxes": [{"label": "dog", "left": 100, "top": 80, "width": 200, "height": 150}],
            "inputImageProperties": {"width": 640, "height": 480},
        }
    )
    good = WorkerModelSpec("good", accuracy=0.95, box_jitter=0.03, miss_rate=0.1)
    outputs = [models.answer_boxes(good, ["dog", "cat"], truth, 1, 0, f"o{i}") for i in range(500)]
    kept = [o["boundingBoxes"] for o in outputs if o["boundingBoxes"]]
    assert 1 - len(kept) / len(outputs) == pytest.approx(0.1, abs=0.04)
    assert np.mean([_iou(boxes[0], truth.boxes[0]) for boxes in kept]) > 0.85
    assert all(o["inputImageProperties"] == {"height": 480, "width": 640} for o in outputs)
    spam = [models.answer_boxes(WorkerModelSpec("spammer", 0.0), ["dog"], truth, 1, 1, f"o{i}") for i in range(200)]
    assert any(not o["boundingBoxes"] for o in spam)  # some spam pages are submitted empty
    assert np.mean([max((_iou(b, truth.boxes[0]) for b in o["boundingBoxes"]), default=0.0) for o in spam]) < 0.3
    for output in spam:
        for box in output["boundingBoxes"]:
            assert box["left"] + box["width"] <= 640 and box["top"] + box["height"] <= 480


def test_multi_label_answers_follow_accuracy() -> None:
    spec = WorkerModelSpec("good", accuracy=0.95)
    hits = [set(models.answer_labels(spec, LABELS, ["cat", "bird"], 2, 0, o)) == {"cat", "bird"} for o in OBJECTS[:500]]
    assert np.mean(hits) > 0.75


def test_work_time_is_lognormal_around_the_median() -> None:
    spec = WorkerModelSpec("good", work_seconds=10.0, work_sigma=0.4)
    times = np.array([models.work_seconds(spec, 1, 0, o, 2.0) for o in OBJECTS[:2000]])
    assert np.median(times) == pytest.approx(20.0, rel=0.05)
    assert times.min() > 0


def test_pickup_probability_rises_with_wage_per_expected_second() -> None:
    rich = pricing.wage_cents_per_hour(50, 10.0)
    poor = pricing.wage_cents_per_hour(1, 60.0)
    probabilities = pricing.pickup_probability(np.array([poor, 600.0, rich]), 600.0)
    assert np.all(np.diff(probabilities) > 0)
    assert probabilities[0] < 0.05 and probabilities[2] > 0.95


def test_bare_box_lists_take_the_image_size_from_the_page() -> None:
    boxes = [{"label": "car", "left": 10, "top": 10, "width": 50, "height": 40}]
    assert models.box_truth(boxes) is None  # no size known yet
    truth = models.box_truth(boxes, (200, 100))
    assert (truth.width, truth.height, truth.boxes) == (200, 100, boxes)
