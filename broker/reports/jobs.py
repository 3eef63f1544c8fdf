"""One job's report: progress over time, throughput, money by kind, cost per label, accuracy.

Money follows broker.store.jobs.job_money: spent = approved assignments (reward + fee) + sent bonuses (+ fee);
committed = what may still be paid. Estimated accuracy is the mean confidence of consolidated
objects; measured accuracy compares consolidated labels of gold objects with their known answers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from broker.domain.lifecycle import ReviewStatus
from broker.reports.workers import quality_events
from broker.store import Job
from broker.store.autolabel import autolabel_summary
from broker.store.jobs import job_money
from broker.store.views import load_job_answers


@dataclass(frozen=True)
class JobReport:
    name: str
    status: str
    task_type: str
    objects: int
    gold_objects: int
    consolidated: int  # real (non-gold) objects with a consolidated label
    assignments: int
    approved: int
    rejected: int
    workers: int
    first_accept: datetime | None
    last_submit: datetime | None
    hours: float | None  # first accept -> last submit
    assignments_per_hour: float | None
    reward_cents: int  # approved rewards
    fee_cents: int  # MTurk fees on approved assignments
    bonus_cents: int
    bonus_fee_cents: int
    spent_cents: int
    committed_cents: int
    budget_cents: int | None
    cost_per_label_cents: float | None
    estimated_accuracy: float | None  # mean confidence of consolidated objects
    measured_accuracy: float | None  # consolidated label == gold, over consolidated gold objects
    gold_measured: int
    progress_times: list[datetime]  # submit time of each assignment, in order
    progress_assignments: list[int]  # cumulative assignments submitted
    completion_times: list[datetime]  # time each object was first consolidated, in order
    completion_objects: list[int]  # cumulative objects consolidated
    events: list[tuple[datetime, str, str, str]]
    auto_label: dict[str, Any] | None = None  # auto_label jobs: broker.store.autolabel.autolabel_summary

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("progress_times", "progress_assignments", "completion_times", "completion_objects"):
            data.pop(key)
        return data


def _times(epochs: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(float(t), tz=UTC) for t in epochs]


def job_report(session: Any, job: Job) -> JobReport:
    a = load_job_answers(session, job)
    approved = a.review == ReviewStatus.APPROVED
    money = job_money(session, job.id)
    submits = np.sort(a.submit[~np.isnan(a.submit)])
    accepts = a.accept[~np.isnan(a.accept)]
    first = float(accepts.min()) if accepts.size else (float(submits[0]) if submits.size else None)
    last = float(submits[-1]) if submits.size else None
    hours = (last - first) / 3600.0 if first is not None and last is not None and last > first else None
    done_at = np.sort(a.consolidated_at[~np.isnan(a.consolidated_at)])
    is_gold = a.gold >= 0
    has_label = a.consolidated >= 0
    real_done = (
        int((has_label & ~is_gold).sum()) if not a.multilabel else int((~np.isnan(a.consolidated_at) & ~is_gold).sum())
    )
    gold_done = is_gold & has_label
    confidences = a.confidence[~np.isnan(a.confidence)]
    reward = int(a.reward_cents[approved].sum())
    cost = int(a.cost_cents[approved].sum())
    bonus = sum(a.bonus_cents.values())
    bonus_fee = sum(a.bonus_fee_cents.values())
    return JobReport(
        name=job.name,
        status=job.status,
        task_type=job.task_type,
        objects=int(job.n_objects),
        gold_objects=int(is_gold.sum()),
        consolidated=real_done,
        assignments=int(a.workers.size),
        approved=int(approved.sum()),
        rejected=int((a.review == ReviewStatus.REJECTED).sum()),
        workers=len(a.worker_ids),
        first_accept=_times(np.array([first]))[0] if first is not None else None,
        last_submit=_times(np.array([last]))[0] if last is not None else None,
        hours=hours,
        assignments_per_hour=submits.size / hours if hours else None,
        reward_cents=reward,
        fee_cents=cost - reward,
        bonus_cents=bonus,
        bonus_fee_cents=bonus_fee,
        spent_cents=money.spent_cents,
        committed_cents=money.committed_cents,
        budget_cents=job.budget_cents,
        cost_per_label_cents=money.spent_cents / real_done if real_done else None,
        estimated_accuracy=float(confidences.mean()) if confidences.size else None,
        measured_accuracy=float((a.consolidated[gold_done] == a.gold[gold_done]).mean()) if gold_done.any() else None,
        gold_measured=int(gold_done.sum()),
        progress_times=_times(submits),
        progress_assignments=list(range(1, submits.size + 1)),
        completion_times=_times(done_at),
        completion_objects=list(range(1, done_at.size + 1)),
        events=quality_events(session, [job]),
        auto_label=autolabel_summary(session, job),
    )
