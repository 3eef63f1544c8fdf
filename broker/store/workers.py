"""Workers: exclusions from a job, blocks, bonuses and the accuracy consolidation measured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from broker.domain.clock import utcnow
from broker.domain.lifecycle import ReviewStatus
from broker.store.events import record_event
from broker.store.tables import Assignment, Bonus, Job, Worker, WorkerExclusion

EXCLUDE_EVENT = "exclude"


def excluded_workers(session: Session, job_id: int) -> dict[str, str]:
    """WorkerId -> reason of the workers a quality rule excluded from this job."""
    rows = session.exec(
        select(WorkerExclusion.worker_id, WorkerExclusion.reason)
        .where(WorkerExclusion.job_id == job_id)
        .order_by(WorkerExclusion.id)
    ).all()
    return {worker_id: reason for worker_id, reason in rows}


def record_exclusion(
    session: Session,
    job_id: int,
    worker_id: str,
    action: str,
    reason: str,
    threshold: float,
    *,
    block_reason: str | None = None,
) -> None:
    """A worker excluded from a job: the exclusion row, the worker's block (action "block"), the
    "exclude" event, and a new answers version so consolidation runs again without their answers."""
    if (
        session.exec(
            select(WorkerExclusion.id).where(WorkerExclusion.job_id == job_id, WorkerExclusion.worker_id == worker_id)
        ).first()
        is not None
    ):
        return
    now = utcnow()
    session.add(WorkerExclusion(job_id=job_id, worker_id=worker_id, action=action, reason=reason, at=now))
    if action == "block":
        set_worker_blocked(session, worker_id, True, block_reason)
    record_event(session, job_id, EXCLUDE_EVENT, f"{worker_id}: {action}: {reason} ({threshold:.3f})")
    session.execute(update(Job).where(Job.id == job_id).values(answers_version=Job.answers_version + 1))


def set_worker_blocked(session: Session, worker_id: str, blocked: bool, reason: str | None) -> None:
    worker = session.get(Worker, worker_id) or Worker(worker_id=worker_id)
    worker.blocked = blocked
    worker.block_reason = reason
    session.add(worker)


def store_worker_accuracy(session: Session, accuracy: dict[str, float]) -> None:
    """Each worker's latest accuracy as consolidation measured it."""
    if not accuracy:
        return
    existing = {w.worker_id: w for w in session.exec(select(Worker).where(Worker.worker_id.in_(list(accuracy))))}
    for worker_id, value in accuracy.items():
        worker = existing.get(worker_id) or Worker(worker_id=worker_id)
        worker.em_accuracy = value
        session.add(worker)


def assignment_by_marketplace_id(session: Session, assignment_id: str) -> Assignment | None:
    return session.exec(select(Assignment).where(Assignment.assignment_id == assignment_id)).first()


def first_approved_assignments(session: Session, job_id: int) -> dict[str, str]:
    """WorkerId -> their first approved AssignmentId in the job (a stable place to attach a bonus)."""
    rows = session.exec(
        select(Assignment.worker_id, Assignment.assignment_id)
        .where(Assignment.job_id == job_id, Assignment.review_status == ReviewStatus.APPROVED)
        .order_by(Assignment.id)
    ).all()
    first: dict[str, str] = {}
    for worker_id, assignment_id in rows:
        first.setdefault(worker_id, assignment_id)
    return first


def bonus_with_token(session: Session, token: str) -> Bonus | None:
    return session.exec(select(Bonus).where(Bonus.token == token)).first()


def workers_paid_bonus(session: Session, job_id: int, reason: str) -> set[str]:
    """Workers whose bonus with this reason was sent in this job."""
    return set(
        session.exec(
            select(Bonus.worker_id).where(Bonus.job_id == job_id, Bonus.reason == reason, Bonus.sent.is_(True))
        ).all()
    )


def add_bonus(
    session: Session,
    *,
    token: str,
    worker_id: str,
    assignment_id: str,
    job_id: int,
    amount_cents: int,
    fee_cents: int,
    reason: str,
    at: datetime,
) -> Bonus:
    """The bonus row, written (with its token) before SendBonus is called."""
    bonus = Bonus(
        token=token,
        worker_id=worker_id,
        assignment_id=assignment_id,
        job_id=job_id,
        amount_cents=amount_cents,
        fee_cents=fee_cents,
        reason=reason,
        created_at=at,
    )
    session.add(bonus)
    session.flush()
    return bonus


def mark_bonus_sent(session: Session, token: str) -> bool:
    """Record that the bonus with this token was paid; False when there is none or it already was."""
    bonus = bonus_with_token(session, token)
    if bonus is None or bonus.sent:
        return False
    bonus.sent = True
    session.add(bonus)
    return True


def withdraw_unsent_bonus(session: Session, token: str) -> bool:
    """Drop a bonus row whose SendBonus never reached the marketplace, so it is no longer committed money."""
    bonus = bonus_with_token(session, token)
    if bonus is None or bonus.sent:
        return False
    session.delete(bonus)
    return True
