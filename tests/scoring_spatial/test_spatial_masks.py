"""Segmentation consolidation: weighted per-pixel vote with smoothing, one confidence per image."""

from __future__ import annotations

import numpy as np
import pytest

from scoring._answers import AnswersError
from scoring.masks import MaskConsolidator, label_mask_from_rgb, mask_iou


def mean_mask_iou(est: MaskConsolidator, crowd, n_classes: int = 3) -> float:
    return float(np.mean([mask_iou(p, t, n_classes) for p, t in zip(est.masks_, crowd.truth)]))


def test_weighted_smoothed_vote_beats_plain_and_smoothed_majority(mask_crowd) -> None:
    crowd = mask_crowd(n_objects=10, n_noisy=3, seed=1)
    learned = mean_mask_iou(MaskConsolidator().fit(crowd.objects, crowd.workers, crowd.masks), crowd)
    plain = mean_mask_iou(
        MaskConsolidator(learn_workers=False, smoothing_sigma=0).fit(crowd.objects, crowd.workers, crowd.masks), crowd
    )
    smoothed = mean_mask_iou(
        MaskConsolidator(learn_workers=False).fit(crowd.objects, crowd.workers, crowd.masks), crowd
    )
    assert learned > plain + 0.05
    assert learned > smoothed + 0.02


def test_reliability_ranks_noisy_workers_below_good_ones(mask_crowd) -> None:
    crowd = mask_crowd(n_objects=8, seed=2)
    est = MaskConsolidator().fit(crowd.objects, crowd.workers, crowd.masks)
    noisy = np.isin(np.arange(crowd.n_workers), crowd.noisy_workers)
    assert est.reliability_[noisy].max() < est.reliability_[~noisy].min()


def test_mask_iou_by_hand() -> None:
    pred = np.array([[0, 1], [1, 1]])
    true = np.array([[0, 1], [0, 1]])
    # class 0: inter 1, union 2; class 1: inter 2, union 3
    assert mask_iou(pred, true, 2) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_empty_masks_stay_empty_with_high_confidence() -> None:
    masks = [np.zeros((6, 7), np.int64)] * 3
    est = MaskConsolidator().fit([0, 0, 0], [0, 1, 2], masks, n_classes=3)
    assert est.masks_[0].shape == (6, 7)
    assert not est.masks_[0].any()
    assert est.confidence_[0] > 0.9


def test_smoothing_removes_an_isolated_speck_but_keeps_a_block() -> None:
    mask = np.zeros((20, 20), np.int64)
    mask[2:8, 2:8] = 1
    mask[15, 15] = 1
    est = MaskConsolidator(smoothing_sigma=1.0).fit([0], [0], [mask])
    assert est.masks_[0][15, 15] == 0
    assert (est.masks_[0][3:7, 3:7] == 1).all()
    unsmoothed = MaskConsolidator(smoothing_sigma=0).fit([0], [0], [mask])
    assert (unsmoothed.masks_[0] == mask).all()


def test_unanswered_object_has_no_mask_and_zero_confidence() -> None:
    est = MaskConsolidator().fit([1], [0], [np.ones((3, 3), np.int64)], n_objects=3)
    assert est.masks_[0] is None and est.masks_[2] is None
    assert est.confidence_.tolist()[0] == 0.0 and est.confidence_[1] > 0.5


def test_a_workers_latest_mask_replaces_the_earlier_one() -> None:
    first = np.zeros((4, 4), np.int64)
    second = np.ones((4, 4), np.int64)
    est = MaskConsolidator(smoothing_sigma=0).fit([0, 0], [0, 0], [first, second])
    assert (est.masks_[0] == 1).all()


def test_masks_of_one_object_must_share_a_shape() -> None:
    with pytest.raises(AnswersError, match=r"object 0's masks differ in shape"):
        MaskConsolidator().fit([0, 0], [0, 1], [np.zeros((4, 4), int), np.zeros((4, 5), int)])


def test_class_id_beyond_n_classes_is_rejected() -> None:
    with pytest.raises(AnswersError, match=r"masks\[1\] holds class id 4"):
        MaskConsolidator().fit([0, 0], [0, 1], [np.zeros((2, 2), int), np.full((2, 2), 4)], n_classes=3)


def test_label_mask_from_rgb_maps_nearest_palette_colour() -> None:
    palette = [[255, 255, 255], [31, 119, 180], [255, 127, 14]]
    image = np.array([[[255, 255, 255], [30, 118, 181]], [[250, 130, 10], [255, 255, 250]]], np.uint8)
    assert label_mask_from_rgb(image, palette).tolist() == [[0, 1], [2, 0]]


def test_small_shapes_on_a_large_background_do_not_collapse_to_a_uniform_posterior() -> None:
    """Five images, three different workers on each (no worker seen twice), shapes a few percent of
    each image, traced up to 3 px off, and an empty answer on every other image. Soft EM counts let
    background's posterior crumbs swamp the shape rows: weights fell to zero and the posterior of
    some images went uniform (confidence 0.25 with 4 classes). Hard counts keep it sharp."""
    rng = np.random.default_rng(1)
    objects, workers, masks, truth = [], [], [], []
    for obj in range(5):
        true = np.zeros((60, 80), np.int64)
        for _ in range(2):
            top, left = rng.integers(0, 45), rng.integers(0, 65)
            true[top : top + 12, left : left + 14] = rng.integers(1, 4)
        truth.append(true)
        for vote in range(3):
            answer = np.roll(true, tuple(int(v) for v in rng.integers(-3, 4, 2)), axis=(0, 1))
            if vote == 2 and obj % 2:
                answer = np.zeros_like(true)  # a worker who painted nothing
            objects.append(obj)
            workers.append(3 * obj + vote)
            masks.append(answer)
    est = MaskConsolidator().fit(objects, workers, masks, n_classes=4)
    assert est.confidence_.min() > 0.6
    assert np.mean([mask_iou(m, t, 4) for m, t in zip(est.masks_, truth)]) > 0.65
