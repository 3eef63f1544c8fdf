"""Verification verdicts of a job -> one binary label per object, with worker quality.

Each usable assignment (verdicts stored, not rejected, worker not excluded: the store's
`verdict_answers`) contributes one verdict per object of its batch; scoring.VerificationConsolidator
fits them all at once. Everything here is pure: the rows come from broker.store.answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

import scoring
from broker.consolidation import Consolidated


@dataclass(frozen=True)
class VerdictArrays:
    """One row per (assignment, object of its batch)."""

    objects: np.ndarray  # datasetObjectId
    workers: np.ndarray  # worker code
    verdicts: np.ndarray  # 0 fits, 1 does not fit
    worker_ids: list[str]  # code -> WorkerId


def build_verdict_arrays(answers: Sequence[tuple[int, str, str]], batches: Mapping[int, list[int]]) -> VerdictArrays:
    """(hit row id, WorkerId, verdicts JSON) answers and hit row id -> object indices (page order)
    -> one row per verdict; an answer whose verdicts do not match its batch is left out."""
    codes: dict[str, int] = {}
    verdicts = [json.loads(chosen) for _, _, chosen in answers]
    objects = [batches.get(hit_row_id, []) for hit_row_id, _, _ in answers]
    sizes = np.array([len(v) if len(v) == len(o) else 0 for v, o in zip(verdicts, objects)], dtype=np.int64)
    worker_codes = np.fromiter(
        (codes.setdefault(w, len(codes)) for _, w, _ in answers), dtype=np.int64, count=len(answers)
    )
    keep = np.flatnonzero(sizes)

    def flat(rows: list[list[int]]) -> np.ndarray:
        return (
            np.concatenate([np.asarray(rows[i], dtype=np.int64) for i in keep])
            if keep.size
            else np.zeros(0, dtype=np.int64)
        )

    return VerdictArrays(
        objects=flat(objects), workers=np.repeat(worker_codes, sizes), verdicts=flat(verdicts), worker_ids=list(codes)
    )


def consolidate_verdicts(
    arrays: VerdictArrays, n_objects: int, *, workers_per_object: int, method: str = "default"
) -> Consolidated:
    """Fit the consolidator; labels and confidences of the objects that got verdicts."""
    model = scoring.VerificationConsolidator(method=method, n_labels=2).fit(
        arrays.objects, arrays.workers, arrays.verdicts, n_objects=n_objects, n_workers=len(arrays.worker_ids)
    )
    answered = np.unique(arrays.objects)
    labels = {int(i): int(model.labels_[i]) for i in answered}
    confidences = {int(i): (0.0 if workers_per_object == 1 else float(model.confidence_[i])) for i in answered}
    accuracy = {w: float(model.reliability_[code]) for code, w in enumerate(arrays.worker_ids)}
    return Consolidated(labels, confidences, accuracy)


def fit_votes(arrays: VerdictArrays, n_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """Per object: (verdicts saying the label fits, all verdicts), for split counts in reports."""
    votes = np.bincount(arrays.objects, minlength=n_objects)
    fits = np.bincount(arrays.objects, weights=(arrays.verdicts == 0), minlength=n_objects).astype(np.int64)
    return fits, votes


def verdict_agreements(
    arrays: VerdictArrays, consolidated_labels: Mapping[int, int], n_objects: int
) -> dict[str, tuple[float, int]]:
    """Per worker: share of their verdicts that match the consolidated ones, and how many were judged
    (the review policy's agreement, for verification jobs)."""
    consolidated = np.full(max(n_objects, 1), -1, dtype=np.int64)
    for index, label in consolidated_labels.items():
        consolidated[index] = int(label)
    judged = consolidated[arrays.objects] >= 0
    n_workers = len(arrays.worker_ids)
    counts = np.bincount(arrays.workers[judged], minlength=n_workers)
    agree = np.bincount(
        arrays.workers[judged],
        minlength=n_workers,
        weights=arrays.verdicts[judged] == consolidated[arrays.objects][judged],
    )
    return {w: (float(agree[c] / counts[c]), int(counts[c])) for c, w in enumerate(arrays.worker_ids) if counts[c]}
