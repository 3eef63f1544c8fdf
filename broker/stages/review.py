"""The review stage: approve / reject submitted assignments by the job's review policy.

Paying twice is impossible by construction: MTurk refuses to approve an assignment twice, and a
call whose result was lost in a crash is settled on the next tick by reading the assignment's
status back (GetAssignment) only on that error path. Approval always happens before MTurk's
AutoApprovalTime: under "agreement" an undecided assignment is approved once its auto-approval
is less than APPROVAL_MARGIN away. Rejections only happen under an explicit policy and always
carry a message. The decisions themselves are pure (broker.domain.rules.decide).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from broker import mturk
from broker.domain.clock import utcnow
from broker.domain.lifecycle import ObjectStatus, ReviewStatus
from broker.domain.rules import Decision, agreement_by_worker, decide
from broker.store import reading, transaction
from broker.store.answers import (
    consolidated_answers,
    consolidated_labels,
    record_review_outcomes,
    review_candidates,
    verdict_arrays,
)
from broker.store.claims import claim_jobs, claim_unreviewed
from broker.store.engine import Engine
from broker.store.jobs import job_spec
from broker.store.tables import Job
from broker.store.views import object_counts_by_status
from broker.tasks.registry import task_type
from broker.verify.batching import is_verification
from broker.verify.consolidate import verdict_agreements

log = logging.getLogger(__name__)

REVIEW_BATCH = 200
# objects that may still get answers: while any is left, "agreement" waits to judge a worker
OBJECTS_AWAITING_ANSWERS = (ObjectStatus.HELD, ObjectStatus.PENDING, ObjectStatus.PUBLISHED, ObjectStatus.ANSWERED)


@dataclass
class ReviewReport:
    approved: int = 0
    rejected: int = 0
    settled: int = 0  # decided by reading MTurk's status after a lost result
    errors: list[str] = field(default_factory=list)


def worker_agreements(session: Any, job: Job) -> dict[str, tuple[float, int]]:
    """Per worker: mean agreement with the consolidated labels over their consolidated objects."""
    if is_verification(job):  # one verdict per object of a batch (broker.verify)
        return verdict_agreements(verdict_arrays(session, job.id), consolidated_labels(session, job.id), job.n_objects)
    return agreement_by_worker(consolidated_answers(session, job.id), job.labels)


def review_tick(
    engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None, now: datetime | None = None
) -> ReviewReport:
    report = ReviewReport()
    now = now or utcnow()
    with reading(engine) as session:
        jobs = claim_jobs(session, "review", job_ids)
    for job in jobs:
        policy = job_spec(job).review_policy
        client = mturk.client_for(mturk.resolve_target(job.marketplace, settings))
        with reading(engine) as session:
            rows = review_candidates(session, job.id)
            pending = [(row, row) for row in rows]  # plain rows: the assignment's columns + its object's status
            scores = worker_agreements(session, job) if pending and policy.approve == "agreement" else {}
            counts = object_counts_by_status(session, job.id) if pending else {}
        settled = not any(counts.get(status, 0) for status in OBJECTS_AWAITING_ANSWERS)
        # a box or span answer that failed its checks is kept and flagged, not "empty": no labels
        # here means only an unreadable answer counts as empty
        labels = job.labels if task_type(job.task_type).chooses_labels else []
        decisions = decide(policy, list(pending), labels, scores, now, settled=settled) if pending else []
        for start in range(0, len(decisions), REVIEW_BATCH):
            _apply(engine, client, job, decisions[start : start + REVIEW_BATCH], report, now)
    return report


def apply_decisions(
    engine: Engine, client: Any, job: Job, decisions: list[Decision], now: datetime | None = None
) -> ReviewReport:
    """Carry out review decisions made by hand (`broker review`): MTurk first, then the DB, in batches."""
    report = ReviewReport()
    for start in range(0, len(decisions), REVIEW_BATCH):
        _apply(engine, client, job, decisions[start : start + REVIEW_BATCH], report, now or utcnow())
    return report


def _apply(
    engine: Engine, client: Any, job: Job, decisions: list[Decision], report: ReviewReport, now: datetime
) -> None:
    """Call MTurk for each decision, then record the outcomes in the same transaction (an approval's
    message, when there is one, reaches the worker as RequesterFeedback too). The assignments are
    claimed first: one another daemon is deciding right now, or has decided, is left alone."""
    outcomes: list[tuple[int, ReviewStatus, str | None]] = []
    interrupted: BaseException | None = None
    with transaction(engine) as session:
        mine = claim_unreviewed(session, [decision.row_id for decision in decisions])
        try:
            for decision in decisions:
                if decision.row_id in mine:
                    _decide_one(client, decision, outcomes, report)
        except BaseException as exc:  # what MTurk already did is recorded (below) before the error goes on
            interrupted = exc
        if outcomes:
            record_review_outcomes(session, job.id, outcomes, now)
    if interrupted is not None:
        raise interrupted


def _decide_one(
    client: Any, decision: Decision, outcomes: list[tuple[int, ReviewStatus, str | None]], report: ReviewReport
) -> None:
    try:
        if decision.approve:
            feedback = {"RequesterFeedback": decision.message} if decision.message else {}
            client.approve_assignment(AssignmentId=decision.assignment_id, **feedback)
            outcomes.append((decision.row_id, ReviewStatus.APPROVED, decision.message))
            report.approved += 1
        else:
            client.reject_assignment(AssignmentId=decision.assignment_id, RequesterFeedback=decision.message)
            outcomes.append((decision.row_id, ReviewStatus.REJECTED, decision.message))
            report.rejected += 1
    except ClientError as exc:
        settled = _settle(client, decision.assignment_id)
        if settled is None:
            report.errors.append(f"{decision.assignment_id}: {mturk.error_code(exc)}: {mturk.error_message(exc)}")
            return
        outcomes.append((decision.row_id, settled, None))
        report.settled += 1


def _settle(client: Any, assignment_id: str) -> ReviewStatus | None:
    """After a failed approve/reject: MTurk's own status decides (it was done before a crash)."""
    try:
        status = client.get_assignment(AssignmentId=assignment_id)["Assignment"]["AssignmentStatus"]
    except ClientError:
        return None
    return {"Approved": ReviewStatus.APPROVED, "Rejected": ReviewStatus.REJECTED}.get(status)


__all__ = ["REVIEW_BATCH", "ReviewReport", "apply_decisions", "review_tick", "worker_agreements"]
