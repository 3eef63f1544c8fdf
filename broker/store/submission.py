"""Writing a submitted job: the Job row and all its DataObjects, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from broker.domain.lifecycle import ObjectStatus
from broker.store.tables import DataObject, Job


@dataclass(frozen=True)
class NewObject:
    """One data object of a job being submitted, and the status it starts in."""

    index: int
    line_number: int
    data_json: str
    status: ObjectStatus


def insert_job(session: Session, objects: Sequence[NewObject], **columns: Any) -> Job:
    """A new Job row (`columns`: its fields) and its DataObjects (one bulk INSERT); the Job has its id."""
    job = Job(**columns)
    session.add(job)
    session.flush()
    if not objects:  # a streaming job: its objects come later
        return job
    session.execute(
        insert(DataObject),
        [
            dict(
                job_id=job.id,
                index=obj.index,
                line_number=obj.line_number,
                data_json=obj.data_json,
                status=obj.status,
                n_answers=0,
            )  # the status each object starts in
            for obj in objects
        ],
    )
    return job
