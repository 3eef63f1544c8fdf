"""Answers: what consolidation counts, what review decides on, and how review decisions are recorded.

Answers of workers excluded from a job (broker.store.workers) never reach consolidation: the
queries leave them out in SQL.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, func, select

from broker.domain.lifecycle import ObjectStatus, ReviewStatus
from broker.store.tables import Assignment, DataObject, Hit, HitObject, WorkerExclusion
from broker.store.transitions import advance
from broker.verify.consolidate import VerdictArrays, build_verdict_arrays

MTURK_REVIEW_STATUS = {ReviewStatus.APPROVED: "Approved", ReviewStatus.REJECTED: "Rejected"}


def _not_excluded(job_id: int) -> Any:
    excluded = select(WorkerExclusion.worker_id).where(WorkerExclusion.job_id == job_id)
    return Assignment.worker_id.not_in(excluded)


def _usable(job_id: int) -> tuple:
    """The answers consolidation counts: labelled, not rejected, not by a worker excluded from the job."""
    return (
        Assignment.job_id == job_id,
        Assignment.chosen_json.is_not(None),
        Assignment.review_status != ReviewStatus.REJECTED,
        _not_excluded(job_id),
    )


def answers_for_consolidation(session: Session, job_id: int) -> list[tuple[int, str, str]]:
    """(object index, WorkerId, chosen JSON) of the usable answers, in submission order: labelled,
    not rejected, not by a worker excluded from the job."""
    return [
        tuple(row)
        for row in session.exec(
            select(DataObject.index, Assignment.worker_id, Assignment.chosen_json)
            .join(DataObject, Assignment.object_id == DataObject.id)
            .where(*_usable(job_id))
            .order_by(Assignment.id)
        ).all()
    ]


def verdict_answers(session: Session, job_id: int) -> list[tuple[int, str, str]]:
    """(hit row id, WorkerId, verdicts JSON) of a verification job's usable answers (as above)."""
    return [
        tuple(row)
        for row in session.exec(
            select(Assignment.hit_row_id, Assignment.worker_id, Assignment.chosen_json)
            .where(*_usable(job_id))
            .order_by(Assignment.id)
        ).all()
    ]


def batch_indices(session: Session, job_id: int) -> dict[int, list[int]]:
    """hit row id -> the object indices its page shows, in page order (a verification job's batches)."""
    rows = session.exec(
        select(HitObject.hit_row_id, DataObject.index)
        .join(DataObject, HitObject.object_id == DataObject.id)
        .where(DataObject.job_id == job_id)
        .order_by(HitObject.hit_row_id, HitObject.position)
    ).all()
    batches: dict[int, list[int]] = {}
    for hit_row_id, index in rows:
        batches.setdefault(hit_row_id, []).append(index)
    return batches


def batch_item_ids(session: Session, hit_row_ids: Iterable[int]) -> dict[int, list[str]]:
    """hit row id -> the item ids its page shows (datasetObjectIds as strings, page order)."""
    rows = session.exec(
        select(HitObject.hit_row_id, DataObject.index)
        .join(DataObject, HitObject.object_id == DataObject.id)
        .where(HitObject.hit_row_id.in_(list(hit_row_ids)))
        .order_by(HitObject.hit_row_id, HitObject.position)
    ).all()
    found: dict[int, list[str]] = defaultdict(list)
    for hit_row_id, index in rows:
        found[hit_row_id].append(str(index))
    return dict(found)


def verdict_arrays(session: Session, job_id: int) -> VerdictArrays:
    """Every usable verdict of a verification job, split by the HIT -> objects link."""
    return build_verdict_arrays(verdict_answers(session, job_id), batch_indices(session, job_id))


def object_data(session: Session, job_id: int, statuses: Iterable[str] | None = None) -> dict[int, Any]:
    """Object index -> its manifest line (optionally only objects in `statuses`)."""
    query = select(DataObject.index, DataObject.data_json).where(DataObject.job_id == job_id)
    if statuses is not None:
        query = query.where(DataObject.status.in_([str(s) for s in statuses]))
    return {index: json.loads(data) for index, data in session.exec(query)}


def answers_of_answered_objects(session: Session, job_id: int) -> list[tuple[int, str, str]]:
    """(object index, WorkerId, answer JSON) of readable, not rejected answers to objects whose
    answers are all in (status answered), in submission order: a custom job's hook payload."""
    return [
        tuple(row)
        for row in session.exec(
            select(DataObject.index, Assignment.worker_id, Assignment.answer_json)
            .join(DataObject, Assignment.object_id == DataObject.id)
            .where(
                Assignment.job_id == job_id,
                DataObject.status == ObjectStatus.ANSWERED,
                Assignment.answer_json.is_not(None),
                Assignment.review_status != ReviewStatus.REJECTED,
            )
            .order_by(Assignment.id)
        ).all()
    ]


def consolidated_answers(session: Session, job_id: int) -> list[tuple[str, str | None, str | None]]:
    """(WorkerId, answer JSON, consolidated label JSON) of every answer to a consolidated object."""
    return [
        tuple(row)
        for row in session.exec(
            select(Assignment.worker_id, Assignment.answer_json, DataObject.label_json)
            .join(DataObject, Assignment.object_id == DataObject.id)
            .where(Assignment.job_id == job_id, DataObject.status == ObjectStatus.CONSOLIDATED)
        ).all()
    ]


def consolidated_labels(session: Session, job_id: int) -> dict[int, Any]:
    """Object index -> consolidated label of the job's consolidated objects."""
    return {
        index: json.loads(label_json)
        for index, label_json in session.exec(
            select(DataObject.index, DataObject.label_json).where(
                DataObject.job_id == job_id,
                DataObject.status == ObjectStatus.CONSOLIDATED,
                DataObject.label_json.is_not(None),
            )
        ).all()
    }


def review_candidates(session: Session, job_id: int) -> list[Any]:
    """Assignments awaiting review, oldest first, as plain rows: id, assignment_id, worker_id,
    answer_json, chosen_json, answer_error, auto_approval_time, and their object's `status`,
    `index` and consolidated `label_json`."""
    return list(
        session.exec(
            select(
                Assignment.id,
                Assignment.assignment_id,
                Assignment.worker_id,
                Assignment.answer_json,
                Assignment.chosen_json,
                Assignment.answer_error,
                Assignment.auto_approval_time,
                DataObject.status,
                DataObject.index,
                DataObject.label_json,
            )
            .join(DataObject, Assignment.object_id == DataObject.id)
            .where(Assignment.job_id == job_id, Assignment.review_status == ReviewStatus.PENDING)
            .order_by(Assignment.id)
        ).all()
    )


def record_review_outcomes(
    session: Session, job_id: int, outcomes: list[tuple[int, ReviewStatus, str | None]], now: datetime
) -> None:
    """Approved / rejected assignments (row id, status, message): one guarded move per (status, message)."""
    groups: dict[tuple[ReviewStatus, str | None], list[int]] = defaultdict(list)
    for row_id, status, message in outcomes:
        groups[(ReviewStatus(status), message)].append(row_id)
    for (status, message), ids in groups.items():
        advance(
            session,
            ids,
            status,
            job_id=job_id,
            values={"review_message": message, "reviewed_at": now, "mturk_status": MTURK_REVIEW_STATUS[status]},
        )


def answers_lost_to_exclusions(session: Session, job_id: int) -> dict[int, int]:
    """Object id -> how many of its answers came from workers excluded from the job."""
    excluded = select(WorkerExclusion.worker_id).where(WorkerExclusion.job_id == job_id)
    return dict(
        session.exec(
            select(Assignment.object_id, func.count())
            .where(Assignment.job_id == job_id, Assignment.worker_id.in_(excluded))
            .group_by(Assignment.object_id)
        ).all()
    )


def fresh_answers_asked(session: Session, job_id: int, object_ids: Iterable[int]) -> dict[int, int]:
    """Object id -> answers already asked for again after the first HIT: the assignments of its
    later HITs (attempt > 0), plus the answers it waits for when it is pending again after having
    had a HIT (put back by the quality stage, not published yet)."""
    ids = list(object_ids)
    asked: dict[int, int] = dict(
        session.exec(
            select(Hit.object_id, func.coalesce(func.sum(Hit.max_assignments), 0))
            .where(Hit.job_id == job_id, Hit.attempt > 0, Hit.object_id.in_(ids))
            .group_by(Hit.object_id)
        ).all()
    )
    had_hit = select(Hit.object_id).where(Hit.job_id == job_id)
    for object_id, wanted in session.exec(
        select(DataObject.id, DataObject.max_assignments).where(
            DataObject.id.in_(ids),
            DataObject.status == ObjectStatus.PENDING,
            DataObject.max_assignments.is_not(None),
            DataObject.id.in_(had_hit),
        )
    ).all():
        asked[object_id] = asked.get(object_id, 0) + int(wanted)
    return asked


def finished_objects(session: Session, object_ids: Iterable[int]) -> list[DataObject]:
    """Of these objects, those whose answers are all in (answered, consolidated or failed), by index."""
    return list(
        session.exec(
            select(DataObject)
            .where(
                DataObject.id.in_(list(object_ids)),
                DataObject.status.in_([ObjectStatus.ANSWERED, ObjectStatus.CONSOLIDATED, ObjectStatus.FAILED]),
            )
            .order_by(DataObject.index)
        ).all()
    )


def ask_again(session: Session, job_id: int, object_id: int, answers: int) -> None:
    """Put a finished object back to pending for `answers` fresh answers (the publish stage makes its next HIT)."""
    advance(
        session,
        [object_id],
        ObjectStatus.PENDING,
        job_id=job_id,
        values={"max_assignments": answers, "failure_reason": None},
    )
