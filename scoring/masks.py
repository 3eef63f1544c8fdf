"""Semantic-segmentation consolidation: per-pixel reliability-weighted vote, smoothed over neighbours.

Ground Truth treats each pixel as a multi-class vote and adds information from
neighbouring pixels with a smoothing function; confidence is one value per image.
``MaskConsolidator`` follows that with a worker model learned by EM: each worker's vote
for a class weighs ``log(a (K - 1) / (1 - a))`` (the one-coin log-likelihood ratio) for
an accuracy ``a``. Which accuracy matters, because background dominates an image:

* ``worker_model="balanced"`` (default): the mean over classes of the worker's recall,
  read off their K x K confusion matrix ``pi[true, painted]``. A worker who paints
  nothing agrees with the truth on most pixels but recalls only the background, so
  they score 1/K: a vote of weight zero.
* ``worker_model="one-coin"``: pixel accuracy, which rates that worker well enough for
  their empty answer to outvote a careful worker's shapes.

(A full Dawid-Skene vote, ``log pi[k, painted]`` per class, was measured and dropped: with
a uniform class prior background pixels leak into the rare classes' rows and EM
collapses them into "painted background"; with a learned prior a lone careful worker
loses every small object to background's share.)

The per-class vote maps are smoothed by a Gaussian filter (``scipy.ndimage``), the
posterior of each pixel is their softmax, the label its argmax; the M-step counts each
worker's (consolidated label, painted) pixels, shrunk towards the pooled matrix (itself
shrunk towards the starting one) by ``pseudo_count`` pixels per row. The counts use the
labels, not the soft posteriors ("hard" EM): on an image that is mostly background, the
little posterior mass every background pixel gives each shape class adds up to more than
the shape's own pixels, lowers every worker's recall, flattens the next posteriors, and
within a few rounds every weight is zero; hard counts keep the rows apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scoring._answers import AnswersError
from scoring.boxes import check_bound, group_starts, index_array

ACCURACY_FLOOR = 1e-4
WORKER_MODELS = ("balanced", "one-coin")


def label_mask_from_rgb(rgb: object, colors: object) -> np.ndarray:
    """(H, W) class ids from an (H, W, 3|4) image whose pixels are painted with ``colors`` (K, 3).

    Each pixel takes its nearest palette colour, so anti-aliased edges of a worker's
    paint strokes still map to a class; alpha (if any) is ignored.
    """
    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise AnswersError(f"rgb must have shape (H, W, 3) or (H, W, 4), got {image.shape}")
    palette = np.asarray(colors, dtype=np.int64).reshape(-1, 3)
    if palette.shape[0] == 0:
        raise AnswersError("colors is empty: need one RGB colour per class")
    pixels = image[..., :3].reshape(-1, 3).astype(np.int64)
    # ||p - c||^2 = |p|^2 - 2 p.c + |c|^2; |p|^2 is the same for every colour, so it is left out
    distance = (palette**2).sum(axis=1)[None, :] - 2 * pixels @ palette.T
    return distance.argmin(axis=1).reshape(image.shape[:2])


def mask_iou(pred: np.ndarray, true: np.ndarray, n_classes: int) -> float:
    """Mean IoU over the classes present in either mask (1.0 for two empty masks of one class)."""
    pred, true = np.asarray(pred).ravel(), np.asarray(true).ravel()
    inter = np.bincount(true[pred == true], minlength=n_classes)
    union = np.bincount(pred, minlength=n_classes) + np.bincount(true, minlength=n_classes) - inter
    present = union > 0
    return float((inter[present] / union[present]).mean()) if present.any() else 1.0


class MaskConsolidator:
    """Consolidate workers' label masks (H x W class ids) per image.

    Parameters: ``smoothing_sigma`` of the Gaussian over each class's map, in
    pixels (0 turns smoothing off); ``learn_workers`` (False: every worker's vote
    weighs the same, i.e. a smoothed plain majority); ``worker_model``
    ("confusion" or "one-coin", see the module); ``max_iter``/``tol``;
    ``pseudo_count`` pixels of smoothing towards the pooled model;
    ``initial_accuracy`` (the diagonal of the starting matrices).

    After ``fit``: ``masks_`` (list, one (H, W) int array per object, ``None`` for
    objects nobody answered), ``confidence_`` (n_objects,) the mean over pixels of
    the winning class's posterior, ``reliability_`` (n_workers,) each worker's
    learned accuracy (balanced: the mean recall over the classes, so painting only
    background scores 1/K; one-coin: pixel accuracy), ``worker_confusion_``
    (n_workers, K, K) for the balanced model, ``n_iter_``.
    """

    def __init__(
        self,
        smoothing_sigma: float = 1.0,
        learn_workers: bool = True,
        max_iter: int = 10,
        tol: float = 1e-3,
        pseudo_count: float = 100.0,
        initial_accuracy: float = 0.8,
        worker_model: str = "balanced",
    ) -> None:
        if worker_model not in WORKER_MODELS:
            raise ValueError(f"worker_model must be one of {', '.join(WORKER_MODELS)}, got {worker_model!r}")
        self.worker_model = worker_model
        self.smoothing_sigma = smoothing_sigma
        self.learn_workers = learn_workers
        self.max_iter = max_iter
        self.tol = tol
        self.pseudo_count = pseudo_count
        self.initial_accuracy = initial_accuracy

    def fit(
        self,
        objects: object,
        workers: object,
        masks: Sequence[object],
        n_objects: int | None = None,
        n_workers: int | None = None,
        n_classes: int | None = None,
    ) -> MaskConsolidator:
        """One row per submitted mask; a worker's last mask for an object is the one kept."""
        objects_a = index_array("objects", objects)
        workers_a = index_array("workers", workers)
        if not (objects_a.size == workers_a.size == len(masks)):
            raise AnswersError(
                "objects, workers and masks must have the same length, got "
                f"{objects_a.size}, {workers_a.size}, {len(masks)}"
            )
        n_objects = int(objects_a.max()) + 1 if n_objects is None and objects_a.size else int(n_objects or 0)
        n_workers = int(workers_a.max()) + 1 if n_workers is None and workers_a.size else int(n_workers or 0)
        check_bound("objects", objects_a, n_objects, "n_objects")
        check_bound("workers", workers_a, n_workers, "n_workers")
        stacks, stack_workers, n_classes = self._stack(objects_a, workers_a, masks, n_objects, n_classes)
        self.n_classes_ = n_classes
        model = self._initial_model(n_workers, n_classes)
        n_iter = 0
        for n_iter in range(1, max(self.max_iter, 1) + 1):  # noqa: B007 - read after the loop
            if not self.learn_workers:
                break
            new_model = self._pass(stacks, stack_workers, model, n_classes, keep=False)[0]
            change = np.abs(new_model - model).max(initial=0)
            model = new_model
            if change < self.tol:
                break
        measured, masks_out, confidence = self._pass(stacks, stack_workers, model, n_classes, keep=True)
        confusion = model if self.learn_workers else measured
        self.masks_ = masks_out
        self.confidence_ = confidence
        if self.worker_model == "balanced":
            self.worker_confusion_ = confusion
            self.reliability_ = np.diagonal(confusion, axis1=1, axis2=2).mean(axis=1)
        else:
            self.reliability_ = confusion
        self.n_iter_ = n_iter
        return self

    def _initial_model(self, n_workers: int, n_classes: int) -> np.ndarray:
        """Confusion matrices (W, K, K) with ``initial_accuracy`` on the diagonal, or one accuracy
        per worker (W,)."""
        if self.worker_model == "one-coin":
            return np.full(n_workers, self.initial_accuracy)
        off = (1 - self.initial_accuracy) / max(n_classes - 1, 1)
        matrix = np.full((n_classes, n_classes), off) + np.eye(n_classes) * (self.initial_accuracy - off)
        return np.broadcast_to(matrix, (n_workers, n_classes, n_classes)).copy()

    def _pass(
        self,
        stacks: list[np.ndarray | None],
        stack_workers: list[np.ndarray],
        params: np.ndarray,
        n_classes: int,
        keep: bool,
    ) -> tuple[np.ndarray, list[np.ndarray | None], np.ndarray]:
        """E-step over every image, one at a time (a posterior is K x H x W: never all held at once).

        Returns the M-step's new worker parameters (from images with two or more workers: a lone
        worker agrees with themself) and, when ``keep``, the label masks and confidences.
        """
        n_workers = params.shape[0]
        # counts[w, consolidated, painted] pixels (one-coin uses the trace and the total)
        counts = np.zeros((n_workers, n_classes, n_classes))
        masks_out: list[np.ndarray | None] = []
        confidence = np.zeros(len(stacks))
        for obj, (stack, workers) in enumerate(zip(stacks, stack_workers)):
            if stack is None:
                masks_out.append(None)
                continue
            posterior = self._posterior(stack, workers, params, n_classes)  # (K, pixels)
            label = posterior.argmax(axis=0)
            for vote, worker in enumerate(workers if workers.size >= 2 else ()):
                counts[worker] += np.bincount(
                    label * n_classes + stack[vote].ravel(), minlength=n_classes * n_classes
                ).reshape(n_classes, n_classes)
            if keep:
                masks_out.append(label.reshape(stack.shape[1:]))
                confidence[obj] = float(posterior.max(axis=0).mean(dtype=np.float64))
        if self.worker_model == "one-coin":
            agreed, drawn = np.trace(counts, axis1=1, axis2=2), counts.sum(axis=(1, 2))
            pooled = agreed.sum() / drawn.sum() if drawn.sum() > 0 else self.initial_accuracy
            return (agreed + self.pseudo_count * pooled) / (drawn + self.pseudo_count), masks_out, confidence
        # the pooled matrix itself leans on the starting one: a class with almost no pixels would
        # otherwise copy whatever little it saw (every row "painted background": nothing identifiable)
        pooled = counts.sum(axis=0) + self.pseudo_count * self._initial_model(1, n_classes)[0]
        pooled /= pooled.sum(axis=1, keepdims=True)
        smoothed = counts + self.pseudo_count * pooled[None]
        return smoothed / smoothed.sum(axis=2, keepdims=True), masks_out, confidence

    def _stack(
        self, objects: np.ndarray, workers: np.ndarray, masks: Sequence[object], n_objects: int, n_classes: int | None
    ) -> tuple[list[np.ndarray | None], list[np.ndarray], int]:
        """Per object: (workers, H, W) label stack of each worker's latest mask, and those workers."""
        arrays = []
        for row, mask in enumerate(masks):
            array = np.asarray(mask)
            if array.ndim != 2:
                raise AnswersError(f"masks[{row}] must be a 2-D (H, W) array of class ids, got shape {array.shape}")
            if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0):
                raise AnswersError(f"masks[{row}] must hold non-negative integer class ids")
            arrays.append(array)
        top = max((int(a.max()) for a in arrays if a.size), default=0)
        n_classes = top + 1 if n_classes is None else int(n_classes)
        if top >= n_classes:
            row = next(i for i, a in enumerate(arrays) if a.size and a.max() >= n_classes)
            raise AnswersError(f"masks[{row}] holds class id {int(arrays[row].max())} >= n_classes = {n_classes}")
        n_classes = max(n_classes, 1)
        compact = np.uint8 if n_classes <= 256 else np.int32  # stacks are the bulk of the memory
        # the last row per (object, worker) wins: a stable sort keeps submission order within a pair
        order = np.lexsort((np.arange(objects.size), workers, objects))
        last = np.r_[(objects[order][1:] != objects[order][:-1]) | (workers[order][1:] != workers[order][:-1]), True]
        order = order[last]
        starts = group_starts(objects[order], n_objects)
        stacks: list[np.ndarray | None] = []
        stack_workers = []
        for obj in range(n_objects):
            rows = order[starts[obj] : starts[obj + 1]]
            shapes = {arrays[r].shape for r in rows}
            if len(shapes) > 1:
                listed = ", ".join(f"masks[{r}] {arrays[r].shape}" for r in rows)
                raise AnswersError(f"object {obj}'s masks differ in shape: {listed}")
            stacks.append(np.stack([arrays[r] for r in rows], dtype=compact, casting="unsafe") if rows.size else None)
            stack_workers.append(workers[rows])
        return stacks, stack_workers, n_classes

    def _posterior(self, stack: np.ndarray, workers: np.ndarray, params: np.ndarray, n_classes: int) -> np.ndarray:
        """(K, pixels) float32 posteriors: softmax of the smoothed, weighted vote maps."""
        from scipy.ndimage import gaussian_filter  # lazy: scipy.optimize/ndimage cost ~0.5 s of CPU to import

        n_votes, height, width = stack.shape
        if not self.learn_workers:  # equal weights: a plain (smoothed) vote
            weight = np.ones(n_votes)
        else:
            a = (
                params[workers]
                if self.worker_model == "one-coin"
                else np.diagonal(params[workers], axis1=1, axis2=2).mean(axis=1)
            )
            a = np.clip(a, ACCURACY_FLOOR, 1 - ACCURACY_FLOOR)
            weight = np.log(a * max(n_classes - 1, 1) / (1 - a)) if n_classes > 1 else np.ones(n_votes)
            weight = np.maximum(weight, 0.0)  # a worker below chance adds nothing rather than votes against
        scores = np.zeros((n_classes, height * width), dtype=np.float32)
        pixels = np.arange(height * width)
        for vote in range(n_votes):  # at most a handful of workers per image; each step covers every pixel
            scores[stack[vote].ravel(), pixels] += weight[vote]
        scores = scores.reshape(n_classes, height, width)
        if self.smoothing_sigma > 0:
            scores = gaussian_filter(scores, sigma=(0, self.smoothing_sigma, self.smoothing_sigma), mode="nearest")
        scores = scores.reshape(n_classes, height * width)
        scores -= scores.max(axis=0, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=0, keepdims=True)
        return scores
