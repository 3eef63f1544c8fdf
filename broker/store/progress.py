"""How far a job is: the work left in it, and stopping it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, func, select

from broker.domain.lifecycle import JOBS_OPEN, OBJECTS_UNFINISHED, HitStatus, JobStatus, ObjectStatus, ReviewStatus
from broker.store.events import record_event
from broker.store.hits import open_hit_count
from broker.store.streams import forget_event_marks
from broker.store.tables import Assignment, Bonus, DataObject, Event, Hit, Job
from broker.store.transitions import advance


def unfinished_object_count(session: Session, job_id: int) -> int:
    """Objects held, pending, published or answered (not consolidated, labeled, carried or failed)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(DataObject)
            .where(DataObject.job_id == job_id, DataObject.status.in_([s.value for s in OBJECTS_UNFINISHED]))
        ).one()
    )


def unreviewed_count(session: Session, job_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.job_id == job_id, Assignment.review_status == ReviewStatus.PENDING)
        ).one()
    )


def answers_all_reviewed_and_labeled(session: Session, job_id: int) -> bool:
    """No object waits for answers and nothing awaits review (a quality rule's ranking is final)."""
    return unfinished_object_count(session, job_id) == 0 and unreviewed_count(session, job_id) == 0


BONUS_ROUND_EVENT = "bonus-round"  # the quality stage applied the job's bonus rule to its final ranking


def record_bonus_round(session: Session, job_id: int, paid: int) -> None:
    """Once per job: the bonus rule was applied to the final ranking."""
    done = session.exec(select(Event.id).where(Event.job_id == job_id, Event.kind == BONUS_ROUND_EVENT).limit(1))
    if done.first() is None:
        record_event(session, job_id, BONUS_ROUND_EVENT, f"bonus rule applied to the final ranking: {paid} paid")


def bonuses_settled(session: Session, job: Job, has_bonus_rule: bool) -> bool:
    """No bonus is left unsent, and an active job with a bonus rule has had its bonus round; until
    then finalize leaves the job open, so the bonuses are paid whichever tick runs first."""
    unsent = session.exec(
        select(func.count()).select_from(Bonus).where(Bonus.job_id == job.id, Bonus.sent == False)  # noqa: E712
    ).one()
    if unsent:
        return False
    if not has_bonus_rule or job.status not in JOBS_OPEN:
        return True
    round_done = session.exec(
        select(Event.id).where(Event.job_id == job.id, Event.kind == BONUS_ROUND_EVENT).limit(1)
    ).first()
    return round_done is not None


def job_has_work_left(session: Session, job: Job) -> bool:
    """Something is left to publish, collect, consolidate or review."""
    return not (
        unfinished_object_count(session, job.id) == 0
        and open_hit_count(session, job.id) == 0
        and unreviewed_count(session, job.id) == 0
        and job.consolidated_version == job.answers_version
    )


def open_hit_ids(session: Session, job_id: int) -> list[str]:
    """Marketplace HITIds of the job's open HITs."""
    return list(session.exec(select(Hit.hit_id).where(Hit.job_id == job_id, Hit.status == HitStatus.OPEN)))


def stop_job(session: Session, job: Job, reason: str) -> int:
    """Cancel an active job and fail its objects that were never published; how many failed."""
    if job.status in JOBS_OPEN:
        advance(session, [job.id], JobStatus.CANCELLED)
    unpublished = list(
        session.exec(
            select(DataObject.id).where(
                DataObject.job_id == job.id, DataObject.status.in_([ObjectStatus.PENDING, ObjectStatus.HELD])
            )
        )
    )
    advance(session, unpublished, ObjectStatus.FAILED, job_id=job.id, values={"failure_reason": reason})
    record_event(session, job.id, "cancelled", f"{len(unpublished)} unpublished objects stopped")
    return len(unpublished)


def complete_job(session: Session, job_id: int, completed_at: datetime, manifest_uri: str | None) -> None:
    """The job is done: an active job becomes completed (a cancelled one stays cancelled)."""
    row = session.get(Job, job_id)
    if row.status in JOBS_OPEN:
        advance(session, [job_id], JobStatus.COMPLETED, values={"completed_at": completed_at})
    else:
        row.completed_at = completed_at
        session.add(row)
    record_event(session, job_id, "completed", f"output manifest {manifest_uri}")
    forget_event_marks(session, job_id)  # a completed job reads no more notifications
