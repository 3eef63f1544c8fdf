"""Spatial and span consolidation benchmark on simulated crowds with known truth.

    python benchmarks/spatial.py                 # 1,000 images / texts per setting
    python benchmarks/spatial.py --objects 300   # quicker

Workers come from tests/scoring_spatial/simulated_crowds.py: a pool of 20, 5 per
object, a share of them noisy (boxes: edges off by 20% of the size, a quarter of
boxes missed, spurious boxes, a quarter mislabelled; masks: shifted by up to 4 px,
regions left unpainted, phantom regions, 10% flipped pixels; spans: boundaries off
by up to 4 characters, 40% mislabelled, missed and spurious spans). Prints markdown
tables comparing our consolidation with one trusted (good) worker per object and
Ground Truth's method (plain matched averaging / majority), and the wall time of
each fit per 1,000 objects.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "scoring_spatial"))

from simulated_crowds import make_adjustment_crowd, make_box_crowd, make_mask_crowd, make_span_crowd  # noqa: E402

from scoring.boxes import BoxConsolidator, iou_matrix, to_corners  # noqa: E402
from scoring.masks import MaskConsolidator, mask_iou  # noqa: E402
from scoring.spans import SpanConsolidator, exact_span_matches, f1_from_counts  # noqa: E402

POOL, PER_OBJECT = 20, 5


def trusted_worker(pair_objects: np.ndarray, pair_workers: np.ndarray, noisy: np.ndarray, n_objects: int) -> np.ndarray:
    """Per object, the first good worker who answered it (a noisy one if no good worker did)."""
    good = ~np.isin(pair_workers, noisy)
    order = np.lexsort((~good, pair_objects))  # per object, good workers first
    first = np.r_[True, pair_objects[order][1:] != pair_objects[order][:-1]]
    chosen = np.full(n_objects, -1)
    chosen[pair_objects[order][first]] = pair_workers[order][first]
    return chosen


def box_scores(pred_of, crowd) -> tuple[float, float]:
    """Mean matched IoU per image (misses and spurious boxes count 0) and box F1 at IoU >= 0.5, same class."""
    ious, tp, n_pred, n_true = [], 0, 0, 0
    for obj in range(crowd.n_objects):
        boxes, classes = pred_of(obj)
        truth = crowd.true_objects == obj
        t_boxes, t_classes = crowd.true_boxes[truth], crowd.true_classes[truth]
        n_pred, n_true = n_pred + len(boxes), n_true + len(t_boxes)
        if len(boxes) == 0 or len(t_boxes) == 0:
            ious.append(1.0 if len(boxes) == len(t_boxes) else 0.0)
            continue
        iou = iou_matrix(to_corners(boxes), to_corners(t_boxes)) * (classes[:, None] == t_classes[None, :])
        rows, cols = linear_sum_assignment(iou, maximize=True)
        ious.append(iou[rows, cols].sum() / max(len(boxes), len(t_boxes)))
        tp += int((iou[rows, cols] >= 0.5).sum())
    return float(np.mean(ious)), f1_from_counts(tp, n_pred, n_true)


def timed(fit):
    start = time.perf_counter()
    result = fit()
    return result, time.perf_counter() - start


def bench_boxes(n_objects: int, n_noisy: int, seed: int) -> list[tuple[str, float, float, float | None]]:
    crowd = make_box_crowd(
        n_objects=n_objects, n_workers=POOL, per_object=PER_OBJECT, n_noisy=n_noisy, n_classes=3, seed=seed
    )
    rows = []
    chosen = trusted_worker(crowd.pair_objects, crowd.pair_workers, crowd.noisy_workers, n_objects)
    mine = crowd.workers == chosen[crowd.objects]
    rows.append(
        (
            "one trusted worker",
            *box_scores(
                lambda o: (crowd.boxes[mine & (crowd.objects == o)], crowd.classes[mine & (crowd.objects == o)]), crowd
            ),
            None,
        )
    )

    def fit(**params):
        return BoxConsolidator(**params).fit(
            crowd.objects,
            crowd.workers,
            crowd.boxes,
            crowd.classes,
            crowd.pair_objects,
            crowd.pair_workers,
            n_objects=n_objects,
            n_workers=POOL,
        )

    methods = [("GT: IoU match + plain average", dict(learn_workers=False)), ("ours: learned weights (EM)", {})]
    for name, params in methods:
        est, seconds = timed(lambda params=params: fit(**params))
        rows.append((name, *box_scores(lambda o, est=est: est.boxes_of(o)[:2], crowd), seconds * 1000 / n_objects))
    return rows


def bench_adjustment(n_objects: int, n_lazy: int, seed: int) -> list[tuple[str, float, float, float | None]]:
    adjustment = make_adjustment_crowd(n_objects=n_objects, n_workers=POOL, per_object=3, n_lazy=n_lazy, seed=seed)
    crowd = adjustment.box_crowd
    initial = {
        "initial_objects": adjustment.initial_objects,
        "initial_boxes": adjustment.initial_boxes,
        "initial_classes": adjustment.initial_classes,
    }
    rows = [
        (
            "the initial boxes",
            *box_scores(
                lambda o: (
                    adjustment.initial_boxes[adjustment.initial_objects == o],
                    adjustment.initial_classes[adjustment.initial_objects == o],
                ),
                crowd,
            ),
            None,
        )
    ]
    for name, params, extra in [
        ("GT: IoU match + plain average", dict(learn_workers=False), {}),
        ("EM, initial boxes not used", {}, {}),
        ("ours: EM + review rate (copies of the initial boxes)", {}, initial),
    ]:
        est, seconds = timed(
            lambda params=params, extra=extra: BoxConsolidator(**params).fit(
                crowd.objects,
                crowd.workers,
                crowd.boxes,
                crowd.classes,
                crowd.pair_objects,
                crowd.pair_workers,
                n_objects=n_objects,
                n_workers=POOL,
                **extra,
            )
        )
        rows.append((name, *box_scores(lambda o, est=est: est.boxes_of(o)[:2], crowd), seconds * 1000 / n_objects))
    return rows


def bench_masks(n_objects: int, n_noisy: int, seed: int) -> list[tuple[str, float, float | None]]:
    crowd = make_mask_crowd(
        n_objects=n_objects,
        n_workers=POOL,
        per_object=PER_OBJECT,
        n_noisy=n_noisy,
        n_classes=4,
        shape=(64, 80),
        seed=seed,
    )
    score = lambda masks: float(np.mean([mask_iou(p, t, 4) for p, t in zip(masks, crowd.truth)]))  # noqa: E731
    chosen = trusted_worker(crowd.objects, crowd.workers, crowd.noisy_workers, n_objects)
    trusted = {o: m for o, w, m in zip(crowd.objects, crowd.workers, crowd.masks) if chosen[o] == w}
    rows = [("one trusted worker", score([trusted[o] for o in range(n_objects)]), None)]
    for name, params in [
        ("plain per-pixel majority", dict(learn_workers=False, smoothing_sigma=0)),
        ("GT: majority + smoothing", dict(learn_workers=False)),
        ("EM, one-coin pixel accuracy + smoothing", dict(worker_model="one-coin")),
        ("ours: EM, class-balanced accuracy + smoothing", {}),
    ]:
        est, seconds = timed(
            lambda params=params: MaskConsolidator(**params).fit(crowd.objects, crowd.workers, crowd.masks, n_classes=4)
        )
        rows.append((name, score(est.masks_), seconds * 1000 / n_objects))
    return rows


def bench_spans(n_objects: int, n_noisy: int, seed: int) -> list[tuple[str, float, float | None]]:
    crowd = make_span_crowd(n_objects=n_objects, n_workers=POOL, per_object=PER_OBJECT, n_noisy=n_noisy, seed=seed)

    def score(entities_of) -> float:
        counts = np.zeros(3, dtype=np.int64)
        for obj in range(n_objects):
            truth = crowd.true_objects == obj
            counts += exact_span_matches(
                *entities_of(obj), crowd.true_starts[truth], crowd.true_ends[truth], crowd.true_labels[truth]
            )
        return f1_from_counts(*counts)

    chosen = trusted_worker(crowd.pair_objects, crowd.pair_workers, crowd.noisy_workers, n_objects)
    mine = crowd.workers == chosen[crowd.objects]
    rows = [
        (
            "one trusted worker",
            score(
                lambda o: (
                    crowd.starts[mine & (crowd.objects == o)],
                    crowd.ends[mine & (crowd.objects == o)],
                    crowd.labels[mine & (crowd.objects == o)],
                )
            ),
            None,
        )
    ]
    for name, params in [
        ("GT: Jaccard clusters, mode/median, majority", dict(learn_workers=False)),
        ("ours: learned weights (EM)", {}),
    ]:
        est, seconds = timed(
            lambda params=params: SpanConsolidator(**params).fit(
                crowd.objects,
                crowd.workers,
                crowd.starts,
                crowd.ends,
                crowd.labels,
                crowd.pair_objects,
                crowd.pair_workers,
                n_objects=n_objects,
                n_workers=POOL,
                text_lengths=crowd.text_lengths,
            )
        )
        rows.append((name, score(lambda o, est=est: est.entities_of(o)[:3]), seconds * 1000 / n_objects))
    return rows


def seconds_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1000, help="images / texts per setting (masks use a third)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shares = [(4, "20%"), (8, "40%")]

    print(f"## Bounding boxes ({args.objects} images, 1-3 boxes of 3 classes, {PER_OBJECT} of {POOL} workers each)\n")
    print("| noisy workers | method | mean matched IoU | box F1 @ IoU 0.5 | s per 1,000 images |")
    print("|---|---|---|---|---|")
    for n_noisy, share in shares:
        for name, iou, f1, seconds in bench_boxes(args.objects, n_noisy, args.seed):
            print(f"| {share} | {name} | {iou:.3f} | {f1:.3f} | {seconds_cell(seconds)} |")

    print(
        f"\n## Bounding-box adjustment ({args.objects} images, half the initial boxes shifted by a third, "
        f"a spurious one on every fourth image; 3 of {POOL} workers each)\n"
    )
    print(
        "| lazy workers (copy what they are shown) | method | mean matched IoU | box F1 @ IoU 0.5 "
        "| s per 1,000 images |"
    )
    print("|---|---|---|---|---|")
    for n_lazy, share in shares:
        for name, iou, f1, seconds in bench_adjustment(args.objects, n_lazy, args.seed):
            print(f"| {share} | {name} | {iou:.3f} | {f1:.3f} | {seconds_cell(seconds)} |")

    n_masks = max(args.objects // 3, 1)
    print(
        f"\n## Semantic segmentation ({n_masks} images of 64x80 px, 4 classes, {PER_OBJECT} of {POOL} workers each)\n"
    )
    print("| noisy workers | method | mean class IoU | s per 1,000 images |")
    print("|---|---|---|---|")
    for n_noisy, share in shares:
        for name, iou, seconds in bench_masks(n_masks, n_noisy, args.seed):
            print(f"| {share} | {name} | {iou:.3f} | {seconds_cell(seconds)} |")

    print(
        f"\n## Named entities ({args.objects} texts, 1-3 entities of 3 labels, {PER_OBJECT} of {POOL} workers each)\n"
    )
    print("| noisy workers | method | exact-match span F1 | s per 1,000 texts |")
    print("|---|---|---|---|")
    for n_noisy, share in shares:
        for name, f1, seconds in bench_spans(args.objects, n_noisy, args.seed):
            print(f"| {share} | {name} | {f1:.3f} | {seconds_cell(seconds)} |")


if __name__ == "__main__":
    main()
