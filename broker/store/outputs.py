"""What the output stage writes: every object's outcome, the answers not written yet, and the
record that the output tree was written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from broker.domain.lifecycle import ObjectStatus
from broker.store.tables import Assignment, DataObject, Job


def object_outcomes(session: Session, job_id: int) -> list[tuple[int, str, str | None, str | None, str | None, str]]:
    """(index, status, label JSON, confidence JSON, failure reason, data JSON) of every object, in index order."""
    return [
        tuple(row)
        for row in session.exec(
            select(
                DataObject.index,
                DataObject.status,
                DataObject.label_json,
                DataObject.confidence_json,
                DataObject.failure_reason,
                DataObject.data_json,
            )
            .where(DataObject.job_id == job_id)
            .order_by(DataObject.index)
        ).all()
    ]


def unwritten_answers(session: Session, job_id: int) -> list[Any]:
    """Answers to finished (consolidated or failed) objects whose worker-response file is not written,
    as plain rows: id, hit_row_id, answer_json, worker_id, accept_time, submit_time, object_index."""
    return list(
        session.exec(
            select(
                Assignment.id,
                Assignment.hit_row_id,
                Assignment.answer_json,
                Assignment.worker_id,
                Assignment.accept_time,
                Assignment.submit_time,
                DataObject.index.label("object_index"),
            )
            .join(DataObject, Assignment.object_id == DataObject.id)
            .where(
                Assignment.job_id == job_id,
                Assignment.written == False,  # noqa: E712
                DataObject.status.in_([ObjectStatus.CONSOLIDATED, ObjectStatus.FAILED]),
            )
            .order_by(Assignment.id)
        ).all()
    )


def record_output_written(
    session: Session, job_id: int, *, manifest_uri: str, iteration: int, version: int, written_ids: list[int]
) -> None:
    """The output tree now reflects outcomes `version`; these answers' files are written."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(output_manifest=manifest_uri, iteration=iteration, output_version=version)
    )
    for start in range(0, len(written_ids), 500):
        session.execute(
            update(Assignment).where(Assignment.id.in_(written_ids[start : start + 500])).values(written=True)
        )
