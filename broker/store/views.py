"""Read-only queries for the reports, `broker status`, pricing experiments and the demo.

Each function returns plain rows (named tuples), counts or table rows, named for what they are;
nothing here writes. The answers consolidation counts are broker.store.answers'.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlmodel import Session, func, select

from broker.answer_table import JobAnswerTable, answer_table
from broker.store.tables import (
    Assignment,
    AutoLabelRun,
    Bonus,
    DataObject,
    Event,
    Hit,
    HitObject,
    Job,
    Worker,
    WorkerExclusion,
)


class AnsweredAssignment(NamedTuple):
    """One assignment of a job with its object's index and its HIT's reward."""

    worker_id: str
    index: int
    chosen_json: str | None
    review_status: str
    accept_time: datetime | None
    submit_time: datetime | None
    reward_cents: int
    cost_cents: int


class ObjectResult(NamedTuple):
    """One object of a job: its manifest data and what consolidation made of it."""

    index: int
    data_json: str
    status: str
    label_json: str | None
    confidence_json: str | None
    consolidated_at: datetime | None


class SentBonus(NamedTuple):
    worker_id: str
    amount_cents: int
    fee_cents: int


class LoggedEvent(NamedTuple):
    at: datetime
    job_id: int | None
    kind: str
    message: str


# ----------------------------------------------------------------------------------------- jobs


def all_jobs(session: Session) -> list[Job]:
    """Every job, oldest first."""
    return list(session.exec(select(Job).order_by(Job.id)).all())


def jobs_not_completed(session: Session) -> list[Job]:
    """Jobs not finalized yet, whatever their status, oldest first."""
    return list(session.exec(select(Job).where(Job.completed_at == None).order_by(Job.id)).all())  # noqa: E711


def job_by_id(session: Session, job_id: int) -> Job:
    """The job with this id (it must exist)."""
    job = session.get(Job, job_id)
    if job is None:
        raise LookupError(f"no job with id {job_id}")
    return job


def existing_job_names(session: Session, names: Iterable[str]) -> list[str]:
    """Those of `names` that some job already has."""
    return list(session.exec(select(Job.name).where(Job.name.in_(list(names)))).all())


# ----------------------------------------------------------------------------------------- counts


def object_counts_by_status(session: Session, job_id: int) -> dict[str, int]:
    """Objects of a job per status (statuses with no object are missing)."""
    return dict(
        session.exec(
            select(DataObject.status, func.count()).where(DataObject.job_id == job_id).group_by(DataObject.status)
        ).all()
    )


def assignment_counts_by_review(session: Session, job_id: int) -> dict[str, int]:
    """Assignments of a job per review status."""
    return dict(
        session.exec(
            select(Assignment.review_status, func.count())
            .where(Assignment.job_id == job_id)
            .group_by(Assignment.review_status)
        ).all()
    )


def published_object_count(session: Session, job_id: int, *, batched: bool = False) -> int:
    """Objects shown by a HIT that exists on the marketplace; `batched`: a HIT shows the objects
    linked to it by HitObject rows (label verification), not just Hit.object_id."""
    if batched:
        query = (
            select(func.count(func.distinct(HitObject.object_id)))
            .join(Hit, HitObject.hit_row_id == Hit.id)
            .where(Hit.job_id == job_id, Hit.hit_id.is_not(None))
        )
    else:
        query = select(func.count(func.distinct(Hit.object_id))).where(Hit.job_id == job_id, Hit.hit_id != None)  # noqa: E711
    return int(session.exec(query).one())


# ----------------------------------------------------------------------------------------- answers and objects


def answered_assignments(session: Session, job_id: int) -> list[AnsweredAssignment]:
    """Every assignment of a job, in the order they were stored."""
    rows = session.exec(
        select(
            Assignment.worker_id,
            DataObject.index,
            Assignment.chosen_json,
            Assignment.review_status,
            Assignment.accept_time,
            Assignment.submit_time,
            Hit.reward_cents,
            Assignment.cost_cents,
        )
        .join(DataObject, Assignment.object_id == DataObject.id)
        .join(Hit, Assignment.hit_row_id == Hit.id)
        .where(Assignment.job_id == job_id)
        .order_by(Assignment.id)
    ).all()
    return [AnsweredAssignment(*row) for row in rows]


def assignment_count(session: Session, job_id: int) -> int:
    return int(session.exec(select(func.count(Assignment.id)).where(Assignment.job_id == job_id)).one())


def object_results(session: Session, job_id: int) -> list[ObjectResult]:
    """Every object of a job, by index."""
    rows = session.exec(
        select(
            DataObject.index,
            DataObject.data_json,
            DataObject.status,
            DataObject.label_json,
            DataObject.confidence_json,
            DataObject.consolidated_at,
        )
        .where(DataObject.job_id == job_id)
        .order_by(DataObject.index)
    ).all()
    return [ObjectResult(*row) for row in rows]


def sent_bonuses(session: Session, job_id: int) -> list[SentBonus]:
    """Bonuses of a job that were sent (each with its MTurk fee)."""
    rows = session.exec(
        select(Bonus.worker_id, Bonus.amount_cents, Bonus.fee_cents).where(Bonus.job_id == job_id, Bonus.sent.is_(True))
    ).all()
    return [SentBonus(*row) for row in rows]


def load_job_answers(session: Session, job: Job) -> JobAnswerTable:
    """Every assignment, object and sent bonus of `job`, as arrays."""
    return answer_table(
        job, answered_assignments(session, job.id), object_results(session, job.id), sent_bonuses(session, job.id)
    )


def autolabel_run(session: Session, job_id: int) -> AutoLabelRun | None:
    """The auto-label loop state of a job (None: the job has no auto_label, or it has not started)."""
    return session.get(AutoLabelRun, job_id)


# ----------------------------------------------------------------------------------------- workers and events


def worker_exclusions(session: Session, job_ids: Iterable[int]) -> dict[str, str]:
    """WorkerId -> reason of the workers a quality rule excluded from any of these jobs (the later row wins)."""
    rows = session.exec(
        select(WorkerExclusion.worker_id, WorkerExclusion.reason)
        .where(WorkerExclusion.job_id.in_(list(job_ids)))
        .order_by(WorkerExclusion.id)
    ).all()
    return {worker_id: reason for worker_id, reason in rows}


def blocked_workers(session: Session, worker_ids: Iterable[str]) -> dict[str, str]:
    """WorkerId -> block reason ("" when none was given) of those of `worker_ids` who are blocked."""
    ids = list(worker_ids)
    if not ids:
        return {}
    rows = session.exec(
        select(Worker.worker_id, Worker.block_reason).where(Worker.worker_id.in_(ids), Worker.blocked.is_(True))
    ).all()
    return {worker_id: reason or "" for worker_id, reason in rows}


def events_of(session: Session, job_ids: Iterable[int], kinds: Iterable[str]) -> list[LoggedEvent]:
    """Events of these kinds logged for these jobs or for no job (global actions), oldest first."""
    rows = session.exec(
        select(Event.at, Event.job_id, Event.kind, Event.message)
        .where(Event.kind.in_(list(kinds)), Event.job_id.in_(list(job_ids)) | (Event.job_id == None))  # noqa: E711
        .order_by(Event.at, Event.id)
    ).all()
    return [LoggedEvent(*row) for row in rows]


def worker_assignments(session: Session, job_ids: Iterable[int]) -> dict[str, list[tuple[str, str, str | None]]]:
    """Per worker: (AssignmentId, review status, review message) of their assignments in these jobs, in order."""
    rows = session.exec(
        select(Assignment.worker_id, Assignment.assignment_id, Assignment.review_status, Assignment.review_message)
        .where(Assignment.job_id.in_(list(job_ids)))
        .order_by(Assignment.id)
    ).all()
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    for worker_id, assignment_id, status, message in rows:
        found.setdefault(worker_id, []).append((assignment_id, status, message))
    return found


# ----------------------------------------------------------------------------------------- one object


class ObjectAnswer(NamedTuple):
    """One worker's answer to one object, with how it was reviewed."""

    assignment_id: str
    worker_id: str
    answer_json: str | None
    answer_error: str | None
    chosen_json: str | None
    review_status: str
    review_message: str | None
    submit_time: datetime | None


def object_at(session: Session, job_id: int, index: int) -> DataObject | None:
    """The object of a job at this manifest index (datasetObjectId), None when there is none."""
    return session.exec(select(DataObject).where(DataObject.job_id == job_id, DataObject.index == index)).first()


def object_answers(session: Session, object_id: int) -> list[ObjectAnswer]:
    """Every assignment that answered this object, in the order they were stored."""
    rows = session.exec(
        select(
            Assignment.assignment_id,
            Assignment.worker_id,
            Assignment.answer_json,
            Assignment.answer_error,
            Assignment.chosen_json,
            Assignment.review_status,
            Assignment.review_message,
            Assignment.submit_time,
        )
        .where(Assignment.object_id == object_id)
        .order_by(Assignment.id)
    ).all()
    return [ObjectAnswer(*row) for row in rows]


def worker_marketplaces(session: Session, worker_id: str) -> list[str]:
    """The marketplaces (a job's `marketplace`) of the jobs this worker answered, most used first."""
    rows = session.exec(
        select(Job.marketplace, func.count())
        .join(Assignment, Assignment.job_id == Job.id)
        .where(Assignment.worker_id == worker_id)
        .group_by(Job.marketplace)
        .order_by(func.count().desc())
    ).all()
    return [marketplace for marketplace, _ in rows]
