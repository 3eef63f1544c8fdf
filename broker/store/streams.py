"""Rows of streaming jobs and notification-driven collection: cursors, handled messages, new objects.

Queues deliver at least once. Each handled message leaves a QueueMark (an MTurk EventDocId, a
streaming object's deduplication id, an object whose output was sent) in the same transaction
as its effect, so a message delivered again is recognised and only deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, update
from sqlmodel import Session, select

from broker.domain.clock import utcnow
from broker.domain.lifecycle import ObjectStatus
from broker.store.events import record_event
from broker.store.tables import DataObject, Job, JobStream, QueueMark

EVENT = "event"  # an MTurk notification document (EventDocId)
INPUT = "input"  # a streaming object's deduplication id
SENT = "sent"  # an object (its index) whose output went to the output queue

# SQS deletes a message at the latest 14 days after it was sent (the longest MessageRetentionPeriod).
SQS_LONGEST_RETENTION = timedelta(days=14)


def stream_row(session: Session, job_id: int) -> JobStream:
    """The job's JobStream row, created on first use."""
    row = session.get(JobStream, job_id)
    if row is None:
        row = JobStream(job_id=job_id, input_offset=0)
        session.add(row)
        session.flush()
    return row


def marked(session: Session, job_id: int, kind: str, keys: Iterable[str]) -> set[str]:
    """Which of `keys` are already marked."""
    wanted = list(set(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found |= set(
            session.exec(
                select(QueueMark.key).where(
                    QueueMark.job_id == job_id, QueueMark.kind == kind, QueueMark.key.in_(wanted[start : start + 500])
                )
            )
        )
    return found


def mark(session: Session, job_id: int, kind: str, keys: Iterable[str]) -> None:
    """Mark keys not marked yet (one bulk INSERT)."""
    new = set(keys) - marked(session, job_id, kind, keys)
    if new:
        now = utcnow()
        session.execute(insert(QueueMark), [{"job_id": job_id, "kind": kind, "key": k, "at": now} for k in sorted(new)])


def forget_event_marks(session: Session, job_id: int, *, made_before: datetime | None = None) -> int:
    """Delete the job's EventDocId marks, or only those made before `made_before`; returns how many.

    A mark is written after its message was received, so one older than SQS's longest retention
    names a message SQS has deleted, and a completed job reads no more messages. Input and sent
    marks stay: they deduplicate for the job's life.
    """
    condition = [QueueMark.job_id == job_id, QueueMark.kind == EVENT]
    if made_before is not None:
        condition.append(QueueMark.at < made_before)
    return int(session.execute(delete(QueueMark).where(*condition)).rowcount or 0)


def pending_object_count(session: Session, job_id: int) -> int:
    """Objects taken in and not published yet (their cost is not committed yet)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(DataObject)
            .where(DataObject.job_id == job_id, DataObject.status == ObjectStatus.PENDING)
        ).one()
    )


def add_objects(session: Session, job_id: int, lines: Sequence[tuple[str, str, int]]) -> int:
    """New pending objects from (deduplication id, data JSON, line number); returns how many were new.

    Ids already taken in are skipped (a message delivered twice makes one object). The caller
    holds the job row lock, so indices are assigned by one daemon at a time.
    """
    seen = marked(session, job_id, INPUT, [key for key, _, _ in lines])
    fresh: dict[str, tuple[str, int]] = {}
    for key, data_json, line_number in lines:
        if key not in seen and key not in fresh:
            fresh[key] = (data_json, line_number)
    if not fresh:
        return 0
    job = session.get(Job, job_id)
    start = int(
        session.exec(select(func.coalesce(func.max(DataObject.index), -1)).where(DataObject.job_id == job_id)).one()
    )
    session.execute(
        insert(DataObject),
        [
            dict(
                job_id=job_id,
                index=start + 1 + i,
                line_number=line_number,
                data_json=data_json,
                status=ObjectStatus.PENDING,
                n_answers=0,
            )
            for i, (data_json, line_number) in enumerate(fresh.values())
        ],
    )
    mark(session, job_id, INPUT, fresh)
    session.execute(update(Job).where(Job.id == job_id).values(n_objects=job.n_objects + len(fresh)))
    return len(fresh)


def set_intake_note(session: Session, job_id: int, note: str | None) -> bool:
    """Record why intake is paused (None: taking objects); True when it changed (an event is logged)."""
    row = stream_row(session, job_id)
    if row.intake_note == note:
        return False
    row.intake_note = note
    session.add(row)
    record_event(session, job_id, "intake", note or "taking new objects again")
    return True


def intake_note(session: Session, job_id: int) -> str | None:
    row = session.get(JobStream, job_id)
    return row.intake_note if row else None


def set_input_offset(session: Session, job_id: int, offset: int) -> None:
    row = stream_row(session, job_id)
    row.input_offset = offset
    session.add(row)


def last_poll(session: Session, job_id: int) -> datetime | None:
    row = session.get(JobStream, job_id)
    return row.last_poll_at if row else None


def set_last_poll(session: Session, job_id: int, at: datetime) -> None:
    row = stream_row(session, job_id)
    row.last_poll_at = at
    session.add(row)


def taken_count(session: Session, job_id: int) -> int:
    """Objects taken in from the job's input so far."""
    return int(
        session.exec(
            select(func.count()).select_from(QueueMark).where(QueueMark.job_id == job_id, QueueMark.kind == INPUT)
        ).one()
    )
