"""Simulated crowds with known truth for boxes, masks and spans (used by the tests and benchmarks/spatial.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BoxCrowd:
    objects: np.ndarray  # one row per drawn box
    workers: np.ndarray
    boxes: np.ndarray  # (N, 4) left, top, width, height
    classes: np.ndarray
    pair_objects: np.ndarray  # every submission, including those with no box
    pair_workers: np.ndarray
    true_objects: np.ndarray
    true_boxes: np.ndarray
    true_classes: np.ndarray
    noisy_workers: np.ndarray  # ids of the noisy workers
    n_objects: int
    n_workers: int


def make_box_crowd(
    n_objects: int = 60,
    n_workers: int = 10,
    per_object: int = 5,
    n_noisy: int = 4,
    n_classes: int = 2,
    seed: int = 0,
) -> BoxCrowd:
    """1-3 true boxes per image; good workers jitter edges by 3% of the size, noisy ones by 20%,
    miss a quarter of the boxes, add spurious boxes and mislabel some."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, n_objects)
    true_objects = np.repeat(np.arange(n_objects), counts)
    size = rng.uniform(40, 140, (true_objects.size, 2))
    corner = rng.uniform(0, 1, (true_objects.size, 2)) * (np.array([640, 480]) - size)
    true_boxes = np.concatenate([corner, size], axis=1)
    true_classes = rng.integers(0, n_classes, true_objects.size)
    noisy = rng.choice(n_workers, n_noisy, replace=False)
    is_noisy = np.zeros(n_workers, bool)
    is_noisy[noisy] = True
    noise = np.where(is_noisy, 0.20, 0.03)
    recall = np.where(is_noisy, 0.75, 0.98)
    spurious_rate = np.where(is_noisy, 0.8, 0.02)
    class_error = np.where(is_noisy, 0.25, 0.0)

    pair_objects = np.repeat(np.arange(n_objects), per_object)
    pair_workers = np.concatenate([rng.choice(n_workers, per_object, replace=False) for _ in range(n_objects)])
    # every (pair, true box of that object) draw
    pair_of_true = [np.flatnonzero(pair_objects == o) for o in true_objects]
    draw_pair = np.concatenate(pair_of_true)
    draw_true = np.repeat(np.arange(true_objects.size), [p.size for p in pair_of_true])
    w = pair_workers[draw_pair]
    keep = rng.random(draw_pair.size) < recall[w]
    draw_pair, draw_true, w = draw_pair[keep], draw_true[keep], w[keep]
    base = true_boxes[draw_true]
    corners = np.concatenate([base[:, :2], base[:, :2] + base[:, 2:]], axis=1)
    scale = np.concatenate([base[:, 2:], base[:, 2:]], axis=1)
    corners = corners + rng.normal(0, 1, corners.shape) * scale * noise[w][:, None]
    corners[:, 2:] = np.maximum(corners[:, 2:], corners[:, :2] + 2)
    drawn = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
    cls = true_classes[draw_true].copy()
    flip = rng.random(cls.size) < class_error[w]
    cls[flip] = (cls[flip] + rng.integers(1, max(n_classes, 2), flip.sum())) % max(n_classes, 1)

    n_spurious = rng.poisson(spurious_rate[pair_workers])
    spur_pair = np.repeat(np.arange(pair_objects.size), n_spurious)
    spur_size = rng.uniform(30, 120, (spur_pair.size, 2))
    spur_corner = rng.uniform(0, 1, (spur_pair.size, 2)) * (np.array([640, 480]) - spur_size)
    spur_boxes = np.concatenate([spur_corner, spur_size], axis=1)
    spur_classes = rng.integers(0, n_classes, spur_pair.size)

    all_pair = np.concatenate([draw_pair, spur_pair])
    return BoxCrowd(
        objects=pair_objects[all_pair],
        workers=pair_workers[all_pair],
        boxes=np.concatenate([drawn, spur_boxes]),
        classes=np.concatenate([cls, spur_classes]),
        pair_objects=pair_objects,
        pair_workers=pair_workers,
        true_objects=true_objects,
        true_boxes=true_boxes,
        true_classes=true_classes,
        noisy_workers=np.sort(noisy),
        n_objects=n_objects,
        n_workers=n_workers,
    )


@dataclass
class MaskCrowd:
    objects: np.ndarray
    workers: np.ndarray
    masks: list[np.ndarray]
    truth: list[np.ndarray]
    noisy_workers: np.ndarray
    n_workers: int


def make_mask_crowd(
    n_objects: int = 6,
    n_workers: int = 6,
    per_object: int = 5,
    n_noisy: int = 2,
    n_classes: int = 3,
    shape: tuple[int, int] = (40, 50),
    seed: int = 0,
) -> MaskCrowd:
    """Images of 1-3 rectangles on background. Good workers trace them shifted by up to a pixel;
    noisy ones shift them by up to 4 pixels, leave a rectangle unpainted half the time, paint a
    phantom rectangle and flip 5% of pixels to random classes."""
    rng = np.random.default_rng(seed)
    height, width = shape
    truth, regions = [], []
    for _ in range(n_objects):
        mask = np.zeros(shape, np.int64)
        rects = []
        for _ in range(rng.integers(1, 4)):
            top, left = rng.integers(0, height - 10), rng.integers(0, width - 10)
            rect = (slice(top, top + rng.integers(6, 20)), slice(left, left + rng.integers(6, 25)))
            mask[rect] = rng.integers(1, n_classes)
            rects.append(rect)
        truth.append(mask)
        regions.append(rects)
    noisy = rng.choice(n_workers, n_noisy, replace=False)
    is_noisy = np.zeros(n_workers, bool)
    is_noisy[noisy] = True
    objects, workers, masks = [], [], []
    for obj, mask in enumerate(truth):
        for worker in rng.choice(n_workers, per_object, replace=False):
            bad = is_noisy[worker]
            shift = 4 if bad else 1
            answer = np.roll(mask, rng.integers(-shift, shift + 1, 2), axis=(0, 1))
            if bad and rng.random() < 0.5:
                answer[regions[obj][rng.integers(len(regions[obj]))]] = 0
            if bad:
                top, left = rng.integers(0, height - 10), rng.integers(0, width - 10)
                answer[top : top + 8, left : left + 12] = rng.integers(1, n_classes)
            flip = rng.random(shape) < (0.05 if bad else 0.0)
            answer = np.where(flip, rng.integers(0, n_classes, shape), answer)
            objects.append(obj)
            workers.append(int(worker))
            masks.append(answer)
    return MaskCrowd(np.array(objects), np.array(workers), masks, truth, np.sort(noisy), n_workers)


@dataclass
class SpanCrowd:
    objects: np.ndarray
    workers: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    labels: np.ndarray
    pair_objects: np.ndarray
    pair_workers: np.ndarray
    true_objects: np.ndarray
    true_starts: np.ndarray
    true_ends: np.ndarray
    true_labels: np.ndarray
    text_lengths: np.ndarray
    noisy_workers: np.ndarray
    n_objects: int
    n_workers: int


def make_span_crowd(
    n_objects: int = 60,
    n_workers: int = 10,
    per_object: int = 5,
    n_noisy: int = 4,
    n_labels: int = 3,
    seed: int = 0,
) -> SpanCrowd:
    """Texts of 120 characters with 1-3 entities (the last one may end at the text's end); good workers
    are exact, noisy ones shift boundaries by a few characters, mislabel, miss and add spans."""
    rng = np.random.default_rng(seed)
    text_length = 120
    t_obj, t_start, t_end = [], [], []
    for obj in range(n_objects):
        slots = np.sort(rng.choice(4, rng.integers(1, 4), replace=False))
        for slot in slots:
            start = slot * 30 + rng.integers(0, 10)
            end = text_length if slot == 3 and rng.random() < 0.5 else start + rng.integers(4, 18)
            t_obj.append(obj)
            t_start.append(start)
            t_end.append(min(end, text_length))
    true_objects, true_starts, true_ends = np.array(t_obj), np.array(t_start), np.array(t_end)
    true_labels = rng.integers(0, n_labels, true_objects.size)
    noisy = rng.choice(n_workers, n_noisy, replace=False)
    is_noisy = np.zeros(n_workers, bool)
    is_noisy[noisy] = True
    pair_objects = np.repeat(np.arange(n_objects), per_object)
    pair_workers = np.concatenate([rng.choice(n_workers, per_object, replace=False) for _ in range(n_objects)])
    objects, workers, starts, ends, labels = [], [], [], [], []
    for obj, worker in zip(pair_objects, pair_workers):
        bad = is_noisy[worker]
        for idx in np.flatnonzero(true_objects == obj):
            if rng.random() < (0.7 if bad else 0.98):
                shift = rng.integers(-4, 5, 2) if bad else np.zeros(2, np.int64)
                start = int(np.clip(true_starts[idx] + shift[0], 0, text_length - 1))
                end = int(np.clip(true_ends[idx] + shift[1], start + 1, text_length))
                label = rng.integers(0, n_labels) if bad and rng.random() < 0.4 else true_labels[idx]
                for column, value in zip((objects, workers, starts, ends, labels), (obj, worker, start, end, label)):
                    column.append(value)
        if bad and rng.random() < 0.6:
            start = int(rng.integers(0, text_length - 5))
            spurious = (obj, worker, start, start + 4, rng.integers(0, n_labels))
            for column, value in zip((objects, workers, starts, ends, labels), spurious):
                column.append(value)
    return SpanCrowd(
        np.array(objects),
        np.array(workers),
        np.array(starts),
        np.array(ends),
        np.array(labels),
        pair_objects,
        pair_workers,
        true_objects,
        true_starts,
        true_ends,
        true_labels,
        np.full(n_objects, text_length),
        np.sort(noisy),
        n_objects,
        n_workers,
    )


@dataclass
class AdjustmentCrowd:
    box_crowd: BoxCrowd  # the answers (true_* = the truth); noisy_workers = the copying ones
    initial_objects: np.ndarray  # the boxes every page showed
    initial_boxes: np.ndarray
    initial_classes: np.ndarray


def make_adjustment_crowd(
    n_objects: int = 200, n_workers: int = 12, per_object: int = 3, n_lazy: int = 4, seed: int = 0
) -> AdjustmentCrowd:
    """1-3 true boxes per image; the initial boxes are the truth with half of them shifted by a third of
    their size and a spurious box on every fourth image. Careful workers redraw every true box
    (edges jittered by 3%) and delete the spurious one; lazy workers submit the initial boxes as they are."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, n_objects)
    true_objects = np.repeat(np.arange(n_objects), counts)
    size = rng.uniform(40, 140, (true_objects.size, 2))
    corner = rng.uniform(0, 1, (true_objects.size, 2)) * (np.array([640, 480]) - size)
    true_boxes = np.column_stack([corner, size])
    true_classes = rng.integers(0, 2, true_objects.size)
    initial = true_boxes.copy()
    shifted = rng.random(true_objects.size) < 0.5
    initial[shifted, 0] += size[shifted, 0] / 3
    initial = np.rint(initial)
    spurious = np.arange(0, n_objects, 4)
    initial_objects = np.concatenate([true_objects, spurious])
    initial_boxes = np.concatenate([initial, np.tile([5.0, 5.0, 30.0, 20.0], (spurious.size, 1))])
    initial_classes = np.concatenate([true_classes, np.zeros(spurious.size, np.int64)])
    lazy = rng.choice(n_workers, n_lazy, replace=False)
    objects, workers, boxes, classes, pair_objects, pair_workers = [], [], [], [], [], []
    for obj in range(n_objects):
        for worker in rng.choice(n_workers, per_object, replace=False):
            pair_objects.append(obj)
            pair_workers.append(int(worker))
            if worker in lazy:
                mine = initial_objects == obj
                drawn, kinds = initial_boxes[mine], initial_classes[mine]
            else:
                mine = true_objects == obj
                truth = true_boxes[mine]
                drawn = truth + rng.normal(0, 0.03, truth.shape) * np.column_stack([truth[:, 2:], truth[:, 2:]])
                kinds = true_classes[mine]
            objects += [obj] * len(drawn)
            workers += [int(worker)] * len(drawn)
            boxes.append(drawn)
            classes.append(kinds)
    crowd = BoxCrowd(
        np.array(objects),
        np.array(workers),
        np.concatenate(boxes),
        np.concatenate(classes),
        np.array(pair_objects),
        np.array(pair_workers),
        true_objects,
        true_boxes,
        true_classes,
        np.sort(lazy),
        n_objects,
        n_workers,
    )
    return AdjustmentCrowd(crowd, initial_objects, initial_boxes, initial_classes)
