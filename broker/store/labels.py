"""Labels: the objects consolidation works on and what it decided for them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from broker.domain.lifecycle import ObjectStatus
from broker.store.tables import DataObject, Job
from broker.store.transitions import advance


def objects_to_consolidate(session: Session, job_id: int) -> list[tuple[int, int, str, str | None, str | None]]:
    """(id, index, status, label JSON, confidence JSON) of the job's answered and consolidated objects."""
    return [
        tuple(row)
        for row in session.exec(
            select(
                DataObject.id, DataObject.index, DataObject.status, DataObject.label_json, DataObject.confidence_json
            ).where(
                DataObject.job_id == job_id, DataObject.status.in_([ObjectStatus.ANSWERED, ObjectStatus.CONSOLIDATED])
            )
        ).all()
    ]


def store_consolidation(
    session: Session,
    job_id: int,
    *,
    newly: list[dict[str, Any]],
    moved: list[dict[str, Any]],
    failed: list[tuple[int, str]],
    version: int,
    now: datetime,
) -> None:
    """One pass's results: labels of newly consolidated objects (which move answered -> consolidated),
    labels that moved, objects that failed (id, reason), and the answers version the pass saw.

    `newly` and `moved` rows are {"id", "label_json", "confidence_json"}; plain bulk UPDATEs, so a
    pass over a 10,000-object job does not load and diff 10,000 ORM objects.
    """
    for rows in (newly, moved):
        if rows:
            session.execute(update(DataObject), rows)
    if newly:
        advance(
            session,
            [row["id"] for row in newly],
            ObjectStatus.CONSOLIDATED,
            job_id=job_id,
            values={"consolidated_at": now},
        )
    by_reason: dict[str, list[int]] = defaultdict(list)
    for object_id, reason in failed:
        by_reason[reason].append(object_id)
    for reason, ids in by_reason.items():
        advance(session, ids, ObjectStatus.FAILED, job_id=job_id, values={"failure_reason": reason})
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(consolidated_version=version, outcomes_version=Job.outcomes_version + 1)
    )
