"""Bounding-box consolidation: IoU matching, reliability-weighted averaging, support threshold."""

from __future__ import annotations

import numpy as np
import pytest

from scoring._answers import AnswersError
from scoring.boxes import BoxConsolidator, iou_matrix, matched_iou, to_corners


def fit(crowd, **params) -> BoxConsolidator:
    return BoxConsolidator(**params).fit(
        crowd.objects,
        crowd.workers,
        crowd.boxes,
        crowd.classes,
        answered_objects=crowd.pair_objects,
        answered_workers=crowd.pair_workers,
        n_objects=crowd.n_objects,
        n_workers=crowd.n_workers,
    )


def mean_matched_iou(est: BoxConsolidator, crowd) -> float:
    scores = []
    for obj in range(crowd.n_objects):
        boxes, classes, _ = est.boxes_of(obj)
        truth = crowd.true_objects == obj
        scores.append(matched_iou(boxes, classes, crowd.true_boxes[truth], crowd.true_classes[truth]))
    return float(np.mean(scores))


def test_iou_matrix_matches_hand_computed_overlaps() -> None:
    a = to_corners(np.array([[0, 0, 10, 10]]))
    b = to_corners(np.array([[5, 0, 10, 10], [0, 0, 10, 10], [20, 20, 5, 5], [2, 2, 0, 0]]))
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 1.0, 0.0, 0.0]])


def test_learned_weights_beat_plain_matched_averaging_with_noisy_workers(box_crowd) -> None:
    crowd = box_crowd(n_objects=50, seed=3)
    learned = mean_matched_iou(fit(crowd), crowd)
    plain = mean_matched_iou(fit(crowd, learn_workers=False), crowd)
    assert learned > plain + 0.05
    assert learned > 0.85


def test_reliability_ranks_noisy_workers_below_good_ones(box_crowd) -> None:
    crowd = box_crowd(n_objects=50, seed=4)
    est = fit(crowd)
    noisy = np.isin(np.arange(crowd.n_workers), crowd.noisy_workers)
    assert est.reliability_[noisy].max() < est.reliability_[~noisy].min()
    assert est.coordinate_noise_[noisy].min() > est.coordinate_noise_[~noisy].max()


def test_matched_boxes_are_averaged_and_a_lone_box_is_dropped() -> None:
    # three workers answered object 0; two drew nearly the same box, one drew a box elsewhere
    est = BoxConsolidator(learn_workers=False).fit(
        objects=[0, 0, 0],
        workers=[0, 1, 2],
        boxes=[[10, 10, 20, 20], [12, 10, 20, 22], [100, 100, 10, 10]],
    )
    np.testing.assert_allclose(est.boxes_, [[11, 10, 20, 21]])
    assert est.support_.tolist() == pytest.approx([2 / 3])
    assert est.answer_box_.tolist() == [0, 0, -1]
    assert 0 < est.confidence_[0] < 2 / 3


def test_workers_who_drew_nothing_count_against_a_box() -> None:
    est = BoxConsolidator().fit(
        objects=[0], workers=[0], boxes=[[0, 0, 5, 5]], answered_objects=[0, 0, 0], answered_workers=[0, 1, 2]
    )
    assert est.boxes_.shape == (0, 4)
    assert est.answer_box_.tolist() == [-1]
    assert est.object_starts_.tolist() == [0, 0]


def test_no_boxes_at_all_gives_empty_results() -> None:
    est = BoxConsolidator().fit(
        objects=[], workers=[], boxes=np.empty((0, 4)), answered_objects=[0, 1], answered_workers=[0, 1]
    )
    assert est.boxes_.shape == (0, 4)
    assert est.object_starts_.tolist() == [0, 0, 0]
    assert est.reliability_.shape == (2,)


def test_object_all_workers_missed_has_no_boxes(box_crowd) -> None:
    crowd = box_crowd(n_objects=20, seed=5)
    missed = crowd.objects != 7
    est = BoxConsolidator().fit(
        crowd.objects[missed],
        crowd.workers[missed],
        crowd.boxes[missed],
        crowd.classes[missed],
        answered_objects=crowd.pair_objects,
        answered_workers=crowd.pair_workers,
        n_objects=crowd.n_objects,
        n_workers=crowd.n_workers,
    )
    assert est.boxes_of(7)[0].shape == (0, 4)
    assert est.boxes_of(6)[0].shape[0] > 0


def test_one_worker_boxes_come_back_unchanged_with_their_reliability_as_confidence() -> None:
    boxes = [[1, 2, 30, 40], [100, 50, 20, 10]]
    est = BoxConsolidator().fit(objects=[0, 0], workers=[0, 0], boxes=boxes, classes=[1, 0])
    np.testing.assert_allclose(est.boxes_[est.answer_box_], boxes)
    assert est.classes_[est.answer_box_].tolist() == [1, 0]
    np.testing.assert_allclose(est.support_, [1.0, 1.0])
    # nobody to agree with: reliability stays at the uninformed 0.5, and so does confidence
    np.testing.assert_allclose(est.reliability_, [0.5])
    np.testing.assert_allclose(est.confidence_, [0.5, 0.5])


def test_a_lone_workers_box_is_as_confident_as_their_record_elsewhere(box_crowd) -> None:
    crowd = box_crowd(n_objects=40, seed=7)
    good = int(np.setdiff1d(np.arange(crowd.n_workers), crowd.noisy_workers)[0])
    bad = int(crowd.noisy_workers[0])
    lone_objects = np.array([crowd.n_objects, crowd.n_objects + 1])
    est = BoxConsolidator().fit(
        np.r_[crowd.objects, lone_objects],
        np.r_[crowd.workers, good, bad],
        np.r_[crowd.boxes, [[10, 10, 50, 50], [10, 10, 50, 50]]],
        np.r_[crowd.classes, 0, 0],
        answered_objects=np.r_[crowd.pair_objects, lone_objects],
        answered_workers=np.r_[crowd.pair_workers, good, bad],
    )
    good_box, bad_box = est.answer_box_[-2:]
    assert est.confidence_[good_box] == pytest.approx(est.reliability_[good])
    assert est.confidence_[good_box] > est.confidence_[bad_box]


def test_boxes_of_different_classes_are_not_merged() -> None:
    est = BoxConsolidator(learn_workers=False).fit(
        objects=[0, 0, 0, 0], workers=[0, 0, 1, 1], boxes=[[0, 0, 50, 50]] * 4, classes=[0, 1, 0, 1]
    )
    assert sorted(est.classes_.tolist()) == [0, 1]
    assert est.support_.tolist() == [1.0, 1.0]


def test_class_agnostic_matching_takes_the_weighted_majority_class() -> None:
    est = BoxConsolidator(match_classes=False, learn_workers=False).fit(
        objects=[0, 0, 0], workers=[0, 1, 2], boxes=[[0, 0, 50, 50], [1, 0, 50, 50], [0, 1, 50, 50]], classes=[2, 2, 1]
    )
    assert est.classes_.tolist() == [2]
    assert est.answer_box_.tolist() == [0, 0, 0]


def test_a_box_everyone_drew_is_more_confident_than_a_bare_majority_box() -> None:
    everyone = [[10, 10, 40, 40], [11, 10, 40, 41], [10, 11, 41, 40], [11, 11, 40, 40]]
    three = [[200, 200, 30, 30], [203, 198, 30, 33], [198, 203, 33, 30]]
    est = BoxConsolidator().fit(objects=[0] * 7, workers=[0, 1, 2, 3, 0, 1, 2], boxes=everyone + three)
    first, second = est.answer_box_[0], est.answer_box_[4]
    assert est.support_[first] == pytest.approx(1.0) and est.support_[second] < 1.0
    assert est.confidence_[first] > est.confidence_[second]


def test_row_order_does_not_change_the_result(box_crowd) -> None:
    crowd = box_crowd(n_objects=15, seed=6)
    shuffle = np.random.default_rng(0).permutation(crowd.objects.size)
    a = fit(crowd)
    b = BoxConsolidator().fit(
        crowd.objects[shuffle],
        crowd.workers[shuffle],
        crowd.boxes[shuffle],
        crowd.classes[shuffle],
        answered_objects=crowd.pair_objects,
        answered_workers=crowd.pair_workers,
        n_objects=crowd.n_objects,
        n_workers=crowd.n_workers,
    )
    np.testing.assert_allclose(a.boxes_, b.boxes_)
    assert (a.answer_box_[shuffle] == b.answer_box_).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(objects=[0], workers=[0], boxes=[[0, 0, -1, 5]]), r"boxes\[0\]"),
        (dict(objects=[0], workers=[0], boxes=[[0, 0, 5]]), "shape"),
        (dict(objects=[0, 1], workers=[0], boxes=[[0, 0, 5, 5]]), "same length"),
        (dict(objects=[0], workers=[-1], boxes=[[0, 0, 5, 5]]), r"workers\[0\]"),
        (dict(objects=[0], workers=[0], boxes=[[0, np.nan, 5, 5]]), r"boxes\[0\]"),
        (dict(objects=[0], workers=[0], boxes=[[0, 0, 5, 5]], answered_objects=[0]), "together"),
    ],
)
def test_bad_input_is_rejected_with_the_argument_named(kwargs, message) -> None:
    with pytest.raises(AnswersError, match=message):
        BoxConsolidator().fit(**kwargs)


def _mean_iou(est, crowd) -> float:
    from scoring.boxes import matched_iou

    return float(
        np.mean(
            [
                matched_iou(
                    *est.boxes_of(o)[:2],
                    crowd.true_boxes[crowd.true_objects == o],
                    crowd.true_classes[crowd.true_objects == o],
                )
                for o in range(crowd.n_objects)
            ]
        )
    )


def test_adjustment_review_rate_outweighs_workers_who_copy_the_initial_boxes() -> None:
    from simulated_crowds import make_adjustment_crowd

    adjustment = make_adjustment_crowd(seed=3)
    crowd = adjustment.box_crowd
    args = (crowd.objects, crowd.workers, crowd.boxes, crowd.classes, crowd.pair_objects, crowd.pair_workers)
    plain = BoxConsolidator().fit(*args, n_objects=crowd.n_objects, n_workers=crowd.n_workers)
    aware = BoxConsolidator().fit(
        *args,
        n_objects=crowd.n_objects,
        n_workers=crowd.n_workers,
        initial_objects=adjustment.initial_objects,
        initial_boxes=adjustment.initial_boxes,
        initial_classes=adjustment.initial_classes,
    )
    lazy = np.isin(np.arange(crowd.n_workers), crowd.noisy_workers)
    assert aware.review_rate_[lazy].max() < 0.2 and aware.review_rate_[~lazy].min() > 0.8
    assert (plain.review_rate_ == 1).all()  # no initial boxes: no review model
    assert _mean_iou(aware, crowd) > _mean_iou(plain, crowd) + 0.05
    assert _mean_iou(aware, crowd) > 0.9


def test_a_box_copied_by_everyone_is_kept() -> None:
    box = [10.0, 10.0, 50.0, 40.0]
    est = BoxConsolidator().fit(
        [0, 0, 0],
        [0, 1, 2],
        [box] * 3,
        [0, 0, 0],
        n_objects=1,
        n_workers=3,
        initial_objects=[0],
        initial_boxes=[box],
        initial_classes=[0],
    )
    assert est.boxes_of(0)[0].tolist() == [box]
