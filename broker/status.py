"""What a job has done and what it owes: counts, money spent and committed, ETA.

Money rules: an approved assignment has cost its reward + fee; a rejected one nothing; every
assignment that may still be approved (open HIT slots, submitted work awaiting review) is
*committed*. The budget cap compares spent + committed + the next HIT's cost to the budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, func, select

from broker.db import (Assignment, Bonus, DataObject, Hit, HitStatus, Job, ObjectStatus, ReviewStatus,
                       utcnow)


@dataclass(frozen=True)
class JobMoney:
    spent_cents: int
    committed_cents: int


@dataclass(frozen=True)
class JobStatusReport:
    name: str
    status: str
    task_type: str
    objects: int
    published: int
    answered: int
    consolidated: int
    failed: int
    pending: int
    hits_open: int
    assignments: int
    approved: int
    rejected: int
    awaiting_review: int
    spent_cents: int
    committed_cents: int
    budget_cents: int | None
    eta_seconds: float | None
    output_manifest: str | None
    auto_label: dict[str, Any] | None = None   # issue 7: broker.autolabel.daemon.autolabel_summary
    carried: int = 0        # labeled by an earlier job under the same attribute (job chaining): not posted

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_money(session: Session, job_id: int) -> JobMoney:
    """Spent and committed cents of one job, from aggregate queries (no per-row Python)."""
    is_open = Hit.status.in_([HitStatus.CREATING, HitStatus.OPEN])
    approved = Assignment.review_status == ReviewStatus.APPROVED
    reviewed = Assignment.review_status != ReviewStatus.PENDING

    def total(query: Any) -> int:
        return int(session.exec(query).one() or 0)

    spent = total(select(func.sum(Assignment.cost_cents)).where(Assignment.job_id == job_id, approved))
    open_slots = total(select(func.sum(Hit.max_assignments * Hit.assignment_cost_cents))
                       .where(Hit.job_id == job_id, is_open))
    open_reviewed = total(select(func.sum(Assignment.cost_cents))
                          .join(Hit, Assignment.hit_row_id == Hit.id)
                          .where(Assignment.job_id == job_id, is_open, reviewed))
    closed_pending = total(select(func.sum(Assignment.cost_cents))
                           .join(Hit, Assignment.hit_row_id == Hit.id)
                           .where(Assignment.job_id == job_id, ~is_open, ~reviewed))
    bonus_cost = Bonus.amount_cents + Bonus.fee_cents
    bonuses = total(select(func.sum(bonus_cost)).where(Bonus.job_id == job_id, Bonus.sent == True))  # noqa: E712
    unsent = total(select(func.sum(bonus_cost)).where(Bonus.job_id == job_id, Bonus.sent == False))  # noqa: E712
    return JobMoney(spent_cents=spent + bonuses,
                    committed_cents=max(0, open_slots - open_reviewed) + closed_pending + unsent)


def job_status(session: Session, job: Job, now: datetime | None = None) -> JobStatusReport:
    now = now or utcnow()
    counts = dict(session.exec(select(DataObject.status, func.count()).where(DataObject.job_id == job.id)
                               .group_by(DataObject.status)).all())
    reviews = dict(session.exec(select(Assignment.review_status, func.count())
                                .where(Assignment.job_id == job.id).group_by(Assignment.review_status)).all())
    hits_open = session.exec(select(func.count()).select_from(Hit).where(
        Hit.job_id == job.id, Hit.status.in_([HitStatus.CREATING, HitStatus.OPEN]))).one()
    money = job_money(session, job.id)
    consolidated = counts.get(ObjectStatus.CONSOLIDATED, 0)
    answered = counts.get(ObjectStatus.ANSWERED, 0) + consolidated
    failed = counts.get(ObjectStatus.FAILED, 0)
    pending = counts.get(ObjectStatus.PENDING, 0)
    published = session.exec(select(func.count(func.distinct(Hit.object_id))).where(
        Hit.job_id == job.id, Hit.hit_id != None)).one()  # noqa: E711
    if job.task_type == "label-verification":   # a HIT shows a batch (broker.verify)
        from broker.verify.batching import published_objects

        published = published_objects(session, job.id)
    return JobStatusReport(
        name=job.name, status=job.status, task_type=job.task_type, objects=job.n_objects,
        published=published, answered=answered, consolidated=consolidated, failed=failed, pending=pending,
        hits_open=int(hits_open), assignments=sum(reviews.values()),
        approved=reviews.get(ReviewStatus.APPROVED, 0), rejected=reviews.get(ReviewStatus.REJECTED, 0),
        awaiting_review=reviews.get(ReviewStatus.PENDING, 0),
        spent_cents=money.spent_cents, committed_cents=money.committed_cents, budget_cents=job.budget_cents,
        eta_seconds=_eta(job, answered + failed + counts.get(ObjectStatus.MACHINE_LABELED, 0), now,
                         total=job.n_objects - counts.get(ObjectStatus.CARRIED, 0)),
        output_manifest=job.output_manifest,
        auto_label=autolabel_summary(session, job),
        carried=counts.get(ObjectStatus.CARRIED, 0),
    )


def autolabel_summary(session: Session, job: Job) -> dict[str, Any] | None:
    from broker.autolabel.daemon import autolabel_summary as summary

    return summary(session, job)


def _eta(job: Job, done: int, now: datetime, total: int | None = None) -> float | None:
    """Linear extrapolation of the objects finished so far since submit (of ``total`` to do)."""
    total = job.n_objects if total is None else total
    if job.created_at is None or done <= 0 or done >= total:
        return 0.0 if done >= total else None
    elapsed = (now - job.created_at).total_seconds()
    return elapsed / done * (total - done)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return str(timedelta(seconds=int(seconds)))
