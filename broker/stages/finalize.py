"""The finalize stage: a job with nothing left whose output tree is current becomes Completed.

A streaming job never completes on its own: only once `broker stop` has moved it to Stopping.

Nothing left: every object consolidated, machine-labeled, carried or failed (with its reason),
no HIT open, every answer reviewed and consolidated, and no bonus owed: the quality stage has
applied the bonus rule (when the job has one) and every bonus row was sent. Current: the output stage wrote the tree
for the objects' latest outcomes (Job.outcomes_version).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker.domain.clock import utcnow
from broker.domain.lifecycle import JobStatus
from broker.store import reading, transaction
from broker.store.claims import claim_jobs
from broker.store.engine import Engine
from broker.store.jobs import job_spec
from broker.store.progress import bonuses_settled, complete_job, job_has_work_left
from broker.store.tables import Job


@dataclass
class FinalizeReport:
    completed: list[str]


def output_current(job: Job) -> bool:
    return job.output_manifest is not None and job.output_version == job.outcomes_version


def _bonus_rule(job: Job) -> bool:
    quality = getattr(job_spec(job), "quality", None)
    return getattr(quality, "bonus", None) is not None


def finalize_tick(
    engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None, now: datetime | None = None
) -> FinalizeReport:
    report = FinalizeReport(completed=[])
    with reading(engine) as session:
        ready = [
            job
            for job in claim_jobs(session, "finalize", job_ids)
            if output_current(job)
            and not (job.status == JobStatus.ACTIVE and job_spec(job).streaming)  # runs until `broker stop`
            and not job_has_work_left(session, job)
            and bonuses_settled(session, job, _bonus_rule(job))
        ]
    for job in ready:
        with transaction(engine) as session:
            complete_job(session, job.id, now or utcnow(), job.output_manifest)
        report.completed.append(job.name)
    return report


__all__ = ["FinalizeReport", "finalize_tick"]
