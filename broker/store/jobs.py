"""Queries about whole jobs: find one, its frozen spec, its money, which jobs are in which states."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, func, select

from broker.domain.lifecycle import HITS_OPEN, JOBS_WINDING_UP, ReviewStatus
from broker.spec import JobSpec
from broker.store.tables import Assignment, Bonus, Hit, Job


class UnknownJobError(LookupError):
    """No job by that name or id; the message says which."""


@dataclass(frozen=True)
class JobMoney:
    spent_cents: int
    committed_cents: int

    def left_of(self, budget_cents: int | None) -> int | None:
        """Budget still free for new work (None: no budget)."""
        return None if budget_cents is None else budget_cents - self.spent_cents - self.committed_cents


def job_spec(job: Job) -> JobSpec:
    """The JobSpec frozen at submit time (re-validated from its JSON dump)."""
    return JobSpec.model_validate(json.loads(job.spec_json))


def job_named(session: Session, name: str) -> Job | None:
    """The job with exactly this name, or None."""
    return session.exec(select(Job).where(Job.name == name)).first()


def find_job(session: Session, name_or_id: str | int) -> Job:
    """A job by name (or numeric id); UnknownJobError when there is none."""
    job = job_named(session, str(name_or_id))
    if job is None and str(name_or_id).isdigit():
        job = session.get(Job, int(name_or_id))
    if job is None:
        raise UnknownJobError(f"no job named {name_or_id!r}")
    return job


def jobs_in(session: Session, statuses: Iterable[str], job_ids: Iterable[int] | None = None) -> list[Job]:
    """Jobs whose status is one of `statuses` (optionally only these ids), oldest first."""
    query = select(Job).where(Job.status.in_([str(s) for s in statuses])).order_by(Job.id)
    if job_ids is not None:
        query = query.where(Job.id.in_(list(job_ids)))
    return list(session.exec(query).all())


def lock_job(session: Session, job_id: int) -> Job:
    """The job row, held until the transaction ends, so that a spending decision (read the money,
    then insert HITs or a bonus) is made by one daemon at a time. Call it first in the transaction.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite has no row locks: a no-op write takes the database's
    write lock up front, so a second writer waits (busy timeout) instead of acting on a stale read.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Job).where(Job.id == job_id).values(id=Job.id))
        return session.get(Job, job_id)
    return session.exec(select(Job).where(Job.id == job_id).with_for_update()).one()


def job_money(session: Session, job_id: int) -> JobMoney:
    """Spent and committed cents of one job, from aggregate queries (no per-row Python).

    An approved assignment has cost its reward + fee; a rejected one nothing; every assignment
    that may still be approved (open HIT slots, submitted work awaiting review) and every bonus
    not yet sent is committed.
    """
    is_open = Hit.status.in_([s.value for s in HITS_OPEN])
    approved = Assignment.review_status == ReviewStatus.APPROVED
    reviewed = Assignment.review_status != ReviewStatus.PENDING

    def total(query: Any) -> int:
        return int(session.exec(query).one() or 0)

    spent = total(select(func.sum(Assignment.cost_cents)).where(Assignment.job_id == job_id, approved))
    open_slots = total(
        select(func.sum(Hit.max_assignments * Hit.assignment_cost_cents)).where(Hit.job_id == job_id, is_open)
    )
    open_reviewed = total(
        select(func.sum(Assignment.cost_cents))
        .join(Hit, Assignment.hit_row_id == Hit.id)
        .where(Assignment.job_id == job_id, is_open, reviewed)
    )
    closed_pending = total(
        select(func.sum(Assignment.cost_cents))
        .join(Hit, Assignment.hit_row_id == Hit.id)
        .where(Assignment.job_id == job_id, ~is_open, ~reviewed)
    )
    bonus_cost = Bonus.amount_cents + Bonus.fee_cents
    bonuses = total(select(func.sum(bonus_cost)).where(Bonus.job_id == job_id, Bonus.sent == True))  # noqa: E712
    unsent = total(select(func.sum(bonus_cost)).where(Bonus.job_id == job_id, Bonus.sent == False))  # noqa: E712
    return JobMoney(
        spent_cents=spent + bonuses, committed_cents=max(0, open_slots - open_reviewed) + closed_pending + unsent
    )


def unfinished_job_count(session: Session) -> int:
    """Jobs the daemon still has work for: active, or cancelled and not finalized yet."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Job)
            .where(Job.status.in_([s.value for s in JOBS_WINDING_UP]), Job.completed_at.is_(None))
        ).one()
    )
