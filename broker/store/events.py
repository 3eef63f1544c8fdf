"""The job's event log: what happened, in words a requester reads."""

from __future__ import annotations

from sqlmodel import Session

from broker.domain.clock import utcnow
from broker.store.tables import Event


def record_event(session: Session, job_id: int | None, kind: str, message: str) -> None:
    session.add(Event(job_id=job_id, at=utcnow(), kind=kind, message=message))
