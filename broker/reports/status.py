"""`broker status`: what a job has done and what it owes: counts, money spent and committed, ETA.

Money follows broker.store.jobs.job_money: an approved assignment has cost its reward + fee; a
rejected one nothing; every assignment that may still be approved (open HIT slots, submitted work
awaiting review) is *committed*.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from broker.domain.clock import utcnow
from broker.domain.lifecycle import JobStatus, ObjectStatus, ReviewStatus
from broker.reports.workers import worker_report
from broker.store import Job
from broker.store.attention import job_attention
from broker.store.autolabel import autolabel_summary
from broker.store.hits import open_hit_count
from broker.store.jobs import job_money
from broker.store.ratelimit import call_counts
from broker.store.streams import intake_note
from broker.store.views import assignment_counts_by_review, object_counts_by_status, published_object_count
from broker.tasks.registry import task_type


@dataclass(frozen=True)
class JobStatusReport:
    name: str
    status: str
    task_type: str
    objects: int
    published: int
    answered: int
    consolidated: int
    failed: int
    pending: int
    hits_open: int
    assignments: int
    approved: int
    rejected: int
    awaiting_review: int
    spent_cents: int
    committed_cents: int
    budget_cents: int | None
    eta_seconds: float | None
    output_manifest: str | None
    auto_label: dict[str, Any] | None = None  # auto_label jobs: broker.store.autolabel.autolabel_summary
    carried: int = 0  # labeled by an earlier job under the same attribute (job chaining): not posted
    attention: list[dict[str, Any]] = field(default_factory=list)  # failing stages: stage, error, since, count
    flagged_workers: int | None = None  # workers the worker report flags (None: not counted)
    intake: str | None = None  # a streaming job: why it takes no new objects (budget committed, stopped)
    mturk_calls: dict[str, dict[str, int]] = field(default_factory=dict)  # operation -> calls, throttled

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def flagged_worker_count(session: Any, job: Job) -> int:
    """Workers of the job with a flag of the worker report (likely spammer, fails gold, too fast, all rejected)."""
    return sum(1 for row in worker_report(session, [job]).rows if row.flags)


def job_status(session: Any, job: Job, now: datetime | None = None, *, flagged: bool = False) -> JobStatusReport:
    """The job's figures; `flagged` also counts flagged workers (fits the worker model, so the daemon's
    per-tick progress lines leave it out)."""
    now = now or utcnow()
    counts = object_counts_by_status(session, job.id)
    reviews = assignment_counts_by_review(session, job.id)
    hits_open = open_hit_count(session, job.id)
    money = job_money(session, job.id)
    consolidated = counts.get(ObjectStatus.CONSOLIDATED, 0)
    answered = counts.get(ObjectStatus.ANSWERED, 0) + consolidated
    failed = counts.get(ObjectStatus.FAILED, 0)
    pending = counts.get(ObjectStatus.PENDING, 0)
    # a batch HIT (label verification) shows several objects
    published = published_object_count(session, job.id, batched=task_type(job.task_type).batched)
    return JobStatusReport(
        name=job.name,
        status=job.status,
        task_type=job.task_type,
        objects=job.n_objects,
        published=published,
        answered=answered,
        consolidated=consolidated,
        failed=failed,
        pending=pending,
        hits_open=int(hits_open),
        assignments=sum(reviews.values()),
        approved=reviews.get(ReviewStatus.APPROVED, 0),
        rejected=reviews.get(ReviewStatus.REJECTED, 0),
        awaiting_review=reviews.get(ReviewStatus.PENDING, 0),
        spent_cents=money.spent_cents,
        committed_cents=money.committed_cents,
        budget_cents=job.budget_cents,
        eta_seconds=_eta(
            job,
            answered + failed + counts.get(ObjectStatus.MACHINE_LABELED, 0),
            now,
            total=job.n_objects - counts.get(ObjectStatus.CARRIED, 0),
        ),
        output_manifest=job.output_manifest,
        auto_label=autolabel_summary(session, job),
        carried=counts.get(ObjectStatus.CARRIED, 0),
        attention=[item.as_dict() for item in job_attention(session, job.id)],
        flagged_workers=flagged_worker_count(session, job) if flagged else None,
        intake=_intake(session, job),
        mturk_calls=call_counts(session, job.id),
    )


def _intake(session: Any, job: Job) -> str | None:
    if job.status == JobStatus.STOPPING:
        return "stopped: takes no new objects; finishing the ones it has"
    return intake_note(session, job.id)


def calls_line(calls: dict[str, dict[str, int]]) -> str:
    """'1,234 (12 throttled): CreateHITWithHITType 600, ...', busiest operation first."""
    if not calls:
        return "none counted"
    total = sum(c["calls"] for c in calls.values())
    throttled = sum(c["throttled"] for c in calls.values())
    ranked = sorted(calls.items(), key=lambda item: -item[1]["calls"])
    return f"{total:,} ({throttled:,} throttled): " + ", ".join(f"{op} {c['calls']:,}" for op, c in ranked)


def _eta(job: Job, done: int, now: datetime, total: int | None = None) -> float | None:
    """Linear extrapolation of the objects finished so far since submit (of ``total`` to do)."""
    total = job.n_objects if total is None else total
    if job.created_at is None or done <= 0 or done >= total:
        return 0.0 if done >= total else None
    elapsed = (now - job.created_at).total_seconds()
    return elapsed / done * (total - done)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return str(timedelta(seconds=int(seconds)))
