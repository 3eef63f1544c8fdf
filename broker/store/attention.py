"""Stages that keep failing for a job: recorded as events, read back as the job's attention list.

A failed stage run logs a "stage-failed" event (message "<stage>: <one-line error>"); the first
successful run after failures logs "stage-recovered". A stage needs attention while its failures
since the last recovery reach a threshold, so one passing network error does not raise a flag
while a stage that fails on every tick does. Nothing is written while a stage keeps succeeding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from broker.store.events import record_event
from broker.store.tables import Event

STAGE_FAILED = "stage-failed"
STAGE_RECOVERED = "stage-recovered"
MAX_ERROR_CHARS = 500
ATTENTION_AFTER = 3  # failures in a row before a stage needs the requester's attention


@dataclass(frozen=True)
class Attention:
    """A stage failing for a job: its latest error, since when, how many times in a row."""

    stage: str
    error: str
    since: datetime
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "since": self.since.isoformat()}


def _stage_events(session: Session, job_id: int) -> list[tuple[datetime, str, str]]:
    rows = session.exec(
        select(Event.at, Event.kind, Event.message)
        .where(Event.job_id == job_id, Event.kind.in_([STAGE_FAILED, STAGE_RECOVERED]))
        .order_by(Event.id)
    ).all()
    return [(at, kind, message) for at, kind, message in rows]


def failing_stages(session: Session, job_id: int) -> dict[str, Attention]:
    """Per stage with failures since its last recovery: the run of failures."""
    runs: dict[str, Attention] = {}
    for at, kind, message in _stage_events(session, job_id):
        stage, _, error = message.partition(": ")
        if kind == STAGE_RECOVERED:
            runs.pop(stage, None)
            continue
        previous = runs.get(stage)
        since, count = (previous.since, previous.count) if previous else (at, 0)
        runs[stage] = Attention(stage, error, since, count + 1)
    return runs


def job_attention(session: Session, job_id: int, min_failures: int = ATTENTION_AFTER) -> list[Attention]:
    """Stages of the job that failed at least `min_failures` times in a row, by stage name."""
    return sorted(
        (run for run in failing_stages(session, job_id).values() if run.count >= min_failures),
        key=lambda run: run.stage,
    )


def record_stage_failure(session: Session, job_id: int, stage: str, error: str) -> None:
    line = " ".join(error.split())[:MAX_ERROR_CHARS] or "failed"
    record_event(session, job_id, STAGE_FAILED, f"{stage}: {line}")


def record_stage_success(session: Session, job_id: int, stage: str) -> bool:
    """Log a recovery when the stage had been failing; True when it had."""
    if stage not in failing_stages(session, job_id):
        return False
    record_event(session, job_id, STAGE_RECOVERED, f"{stage}: ok")
    return True
