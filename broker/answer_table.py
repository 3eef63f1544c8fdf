"""A job's assignments and objects as numpy arrays: what the reports and quality rules compute on.

Built from three row sets (assignments joined with their HIT and object, objects, sent
bonuses; broker.store.views.load_job_answers reads them); everything after is vectorised.
Times are float seconds since the epoch (NaN when unknown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from broker.domain.lifecycle import ReviewStatus
from broker.tasks.registry import task_type

DEFAULT_GOLD_ATTRIBUTE = "gold-label"


@dataclass(frozen=True)
class JobAnswerTable:
    """Every answer of one job as arrays: per assignment (first block) and per object index (second block)
    of one job."""

    job: Any  # the job's row (broker.store.tables.Job)
    labels: list[str]
    worker_ids: list[str]  # worker code -> WorkerId
    workers: np.ndarray  # worker code
    items: np.ndarray  # object index (datasetObjectId)
    chosen: np.ndarray  # chosen class (single-label), -1 when none or multi-label
    review: np.ndarray  # review status strings
    accept: np.ndarray  # epoch seconds
    submit: np.ndarray  # epoch seconds
    reward_cents: np.ndarray  # the HIT's reward
    cost_cents: np.ndarray  # reward + fee
    consolidated: np.ndarray  # per object index: consolidated class, -1 when none
    confidence: np.ndarray  # per object index: confidence, NaN when none
    consolidated_at: np.ndarray  # per object index: epoch seconds, NaN when not consolidated
    gold: np.ndarray  # per object index: known class, -1 when not gold
    bonus_cents: dict[str, int]  # WorkerId -> bonuses sent (amount)
    bonus_fee_cents: dict[str, int]

    @property
    def multilabel(self) -> bool:
        return task_type(self.job.task_type).multilabel

    @property
    def usable(self) -> np.ndarray:
        """Answers that count for EM: a label was chosen and the assignment was not rejected."""
        return (self.chosen >= 0) & (self.review != ReviewStatus.REJECTED)

    @property
    def work_seconds(self) -> np.ndarray:
        return self.submit - self.accept


def epoch(value: datetime | None) -> float:
    return value.timestamp() if value is not None else float("nan")


def gold_attribute(job: Any) -> str | None:
    """The manifest attribute that holds a gold object's known answer for this job; None when the
    job has no gold configured (a `gold-label` field in its manifest then is plain data, as it is
    for status and the output)."""
    try:
        spec = json.loads(job.spec_json)
    except (TypeError, ValueError):
        return None
    gold = ((spec or {}).get("quality") or {}).get("gold")
    if not gold:
        return None
    return gold.get("label_attribute") or DEFAULT_GOLD_ATTRIBUTE


def _single_class(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int):
        return value[0]
    return -1


def answer_table(
    job: Any, rows: list[tuple], objects: list[tuple], bonuses: list[tuple[str, int, int]]
) -> JobAnswerTable:
    """The arrays of one job from its rows: assignments (WorkerId, object index, chosen JSON, review
    status, accept, submit, reward, cost), objects (index, data JSON, status, label JSON, confidence
    JSON, consolidated at) and sent bonuses (WorkerId, amount, fee)."""
    labels = job.labels
    multilabel = task_type(job.task_type).multilabel
    codes: dict[str, int] = {}
    workers = np.fromiter((codes.setdefault(r[0], len(codes)) for r in rows), dtype=np.int64, count=len(rows))
    items = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    chosen = np.fromiter(
        (-1 if multilabel or r[2] is None else _single_class(json.loads(r[2])) for r in rows),
        dtype=np.int64,
        count=len(rows),
    )
    review = np.array([r[3] for r in rows], dtype=object)
    accept = np.fromiter((epoch(r[4]) for r in rows), dtype=np.float64, count=len(rows))
    submit = np.fromiter((epoch(r[5]) for r in rows), dtype=np.float64, count=len(rows))
    reward = np.fromiter((r[6] for r in rows), dtype=np.int64, count=len(rows))
    cost = np.fromiter((r[7] for r in rows), dtype=np.int64, count=len(rows))

    n_objects = max([job.n_objects, *(o[0] + 1 for o in objects)]) if objects else job.n_objects
    consolidated = np.full(n_objects, -1, dtype=np.int64)
    confidence = np.full(n_objects, np.nan)
    consolidated_at = np.full(n_objects, np.nan)
    gold = np.full(n_objects, -1, dtype=np.int64)
    attribute = gold_attribute(job)
    class_of = {label: i for i, label in enumerate(labels)}
    for index, data_json, _, label_json, confidence_json, at in objects:
        if label_json is not None and not multilabel:
            consolidated[index] = _single_class(json.loads(label_json))
        if confidence_json is not None:
            value = json.loads(confidence_json)
            confidence[index] = (
                float(np.mean(list(value.values())))
                if isinstance(value, dict) and value
                else (float(value) if isinstance(value, int | float) else np.nan)
            )
        consolidated_at[index] = epoch(at)
        known = json.loads(data_json).get(attribute) if attribute else None
        if isinstance(known, str) and known in class_of:
            gold[index] = class_of[known]

    bonus: dict[str, int] = {}
    bonus_fee: dict[str, int] = {}
    for worker_id, amount, fee in bonuses:
        bonus[worker_id] = bonus.get(worker_id, 0) + amount
        bonus_fee[worker_id] = bonus_fee.get(worker_id, 0) + fee
    return JobAnswerTable(
        job=job,
        labels=labels,
        worker_ids=list(codes),
        workers=workers,
        items=items,
        chosen=chosen,
        review=review,
        accept=accept,
        submit=submit,
        reward_cents=reward,
        cost_cents=cost,
        consolidated=consolidated,
        confidence=confidence,
        consolidated_at=consolidated_at,
        gold=gold,
        bonus_cents=bonus,
        bonus_fee_cents=bonus_fee,
    )
