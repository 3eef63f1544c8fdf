"""Which work each stage may do now.

A stage asks here for the jobs (and rows) it may work on instead of writing its own query.
With one daemon on SQLite that is simply every job in the stage's states; this is the one
place where several daemons sharing a PostgreSQL DB will take row locks
(``FOR UPDATE SKIP LOCKED``) and leases.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from broker.domain.lifecycle import JOBS_OPEN, JOBS_WINDING_UP, JobStatus
from broker.store.jobs import jobs_in
from broker.store.tables import Job

# stage -> the job statuses it works on
STAGE_JOB_STATES: dict[str, frozenset[JobStatus]] = {
    "publish": JOBS_OPEN,
    "collect": JOBS_WINDING_UP,
    "review": JOBS_WINDING_UP,
    "quality": JOBS_OPEN,
    "consolidate": JOBS_WINDING_UP,
    "autolabel": JOBS_OPEN,
    "output": JOBS_WINDING_UP,
    "finalize": JOBS_WINDING_UP,
}


def claim_jobs(session: Session, stage: str, job_ids: Iterable[int] | None = None) -> list[Job]:
    """The jobs `stage` may work on now (optionally only among `job_ids`): in the stage's states and
    not finalized (a cancelled job keeps its status when finalize closes it)."""
    return [job for job in jobs_in(session, STAGE_JOB_STATES[stage], job_ids) if job.completed_at is None]
