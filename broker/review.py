"""The review tick (approve / reject by the job's policy) and the worker actions of `broker worker`.

Paying twice is impossible by construction: MTurk refuses to approve an assignment twice, and a
call whose result was lost in a crash is settled on the next tick by reading the assignment's
status back (GetAssignment) only on that error path. Approval always happens before MTurk's
AutoApprovalTime: under "agreement" an undecided assignment is approved once its auto-approval
is less than APPROVAL_MARGIN away. Rejections only happen under an explicit policy and always
carry a message.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broker import mturk
from broker.annotations import kind_for
from broker.domain.answers import answer_labels
from broker.domain.tokens import bonus_token
from broker.db import (Assignment, Bonus, DataObject, Job, JobStatus, ObjectStatus, ReviewStatus, Worker,
                       record_event, transaction, utcnow)

log = logging.getLogger(__name__)

APPROVAL_MARGIN = timedelta(hours=6)
EMPTY_ANSWER_MESSAGE = "The HIT was submitted without an answer."
REVIEW_BATCH = 200


@dataclass
class ReviewReport:
    approved: int = 0
    rejected: int = 0
    settled: int = 0          # decided by reading MTurk's status after a lost result
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    row_id: int
    assignment_id: str
    approve: bool
    message: str | None = None


# --------------------------------------------------------------------------------------------- policy

def agreement(answer: list[int], consolidated: list[int]) -> float:
    """1/0 for single labels; Jaccard overlap of the label sets for multi-label answers."""
    a, b = set(answer), set(consolidated)
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def decide(policy: Any, pending: list[tuple[Any, Any]], labels: list[str],
           worker_agreement: dict[str, tuple[float, int]], now: datetime) -> list[Decision]:
    """Pure policy: which pending assignments to approve or reject now (others wait)."""
    decisions: list[Decision] = []
    mode = getattr(policy, "approve", "all")
    for assignment, obj in pending:
        answer = assignment.answer_json
        has_choice = getattr(assignment, "chosen_json", None) is not None or \
            answer_labels(answer, labels) is not None
        # empty: nothing readable, or a crowd-element answer (a JSON list) that chose no known label
        empty = answer is None or bool(labels and not has_choice and answer.lstrip().startswith("["))
        if empty and getattr(policy, "reject_empty", False):
            decisions.append(Decision(assignment.id, assignment.assignment_id, False, EMPTY_ANSWER_MESSAGE))
            continue
        if mode == "all":
            decisions.append(Decision(assignment.id, assignment.assignment_id, True))
            continue
        near_auto = assignment.auto_approval_time is not None and \
            assignment.auto_approval_time - now <= APPROVAL_MARGIN
        if mode == "manual":     # the requester decides; once MTurk has auto-approved, record it
            if assignment.auto_approval_time is not None and assignment.auto_approval_time <= now:
                decisions.append(Decision(assignment.id, assignment.assignment_id, True))
            continue
        score, judged = worker_agreement.get(assignment.worker_id, (1.0, 0))
        if obj.status != ObjectStatus.CONSOLIDATED or judged < policy.min_answers_to_judge:
            if near_auto:
                decisions.append(Decision(assignment.id, assignment.assignment_id, True))
            continue
        if score < policy.min_agreement:
            decisions.append(Decision(assignment.id, assignment.assignment_id, False, policy.reject_message))
        else:
            decisions.append(Decision(assignment.id, assignment.assignment_id, True))
    return decisions


def worker_agreements(session: Session, job: Job) -> dict[str, tuple[float, int]]:
    """Per worker: mean agreement with the consolidated labels over their consolidated objects."""
    if job.task_type == "label-verification":   # one verdict per object of a batch (broker.verify)
        from broker.verify.consolidate import verdict_agreements

        return verdict_agreements(session, job)
    labels = job.labels
    rows = session.exec(select(Assignment.worker_id, Assignment.answer_json, DataObject.label_json)
                        .join(DataObject, Assignment.object_id == DataObject.id)
                        .where(Assignment.job_id == job.id, DataObject.status == ObjectStatus.CONSOLIDATED)).all()
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for worker_id, answer_json, label_json in rows:
        chosen = answer_labels(answer_json, labels)
        if chosen is None or label_json is None:
            continue
        consolidated = json.loads(label_json)
        consolidated = consolidated if isinstance(consolidated, list) else [consolidated]
        totals[worker_id][0] += agreement(chosen, consolidated)
        totals[worker_id][1] += 1
    return {worker: (total / count, int(count)) for worker, (total, count) in totals.items() if count}


# --------------------------------------------------------------------------------------------- tick

def review_tick(engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None,
                now: datetime | None = None) -> ReviewReport:
    from broker.submit import job_spec

    report = ReviewReport()
    now = now or utcnow()
    with Session(engine) as session:
        jobs = [job for job in session.exec(select(Job).where(Job.status.in_([JobStatus.ACTIVE, JobStatus.CANCELLED])))
                if job_ids is None or job.id in job_ids]
    for job in jobs:
        policy = job_spec(job).review_policy
        client = mturk.client_for(mturk.resolve_target(job.marketplace, settings))
        with Session(engine) as session:
            rows = session.exec(select(Assignment.id, Assignment.assignment_id, Assignment.worker_id,
                                       Assignment.answer_json, Assignment.chosen_json, Assignment.auto_approval_time,
                                       DataObject.status)
                                .join(DataObject, Assignment.object_id == DataObject.id)
                                .where(Assignment.job_id == job.id, Assignment.review_status == ReviewStatus.PENDING)
                                .order_by(Assignment.id)).all()
            pending = [(row, row) for row in rows]      # plain rows: the assignment's columns + its object's status
            scores = worker_agreements(session, job) if pending and policy.approve == "agreement" else {}
        # a box or span answer that failed its checks is kept and flagged, not "empty": no labels
        # here means only an unreadable answer counts as empty (broker.annotations)
        labels = [] if kind_for(job.task_type) is not None or job.task_type == "custom" else job.labels
        decisions = decide(policy, list(pending), labels, scores, now) if pending else []
        for start in range(0, len(decisions), REVIEW_BATCH):
            _apply(engine, client, job, decisions[start:start + REVIEW_BATCH], report, now)
    return report


def _apply(engine: Engine, client: Any, job: Job, decisions: list[Decision], report: ReviewReport,
           now: datetime) -> None:
    """Call MTurk for each decision, then record the outcomes in one transaction."""
    outcomes: list[tuple[int, str, str | None]] = []
    try:
        for decision in decisions:
            try:
                if decision.approve:
                    client.approve_assignment(AssignmentId=decision.assignment_id)
                    outcomes.append((decision.row_id, ReviewStatus.APPROVED, None))
                    report.approved += 1
                else:
                    client.reject_assignment(AssignmentId=decision.assignment_id, RequesterFeedback=decision.message)
                    outcomes.append((decision.row_id, ReviewStatus.REJECTED, decision.message))
                    report.rejected += 1
            except ClientError as exc:
                settled = _settle(client, decision.assignment_id)
                if settled is None:
                    report.errors.append(f"{decision.assignment_id}: {mturk.error_code(exc)}: {mturk.error_message(exc)}")
                    continue
                outcomes.append((decision.row_id, settled, None))
                report.settled += 1
    finally:
        _record_outcomes(engine, outcomes, now)


def _record_outcomes(engine: Engine, outcomes: list[tuple[int, str, str | None]], now: datetime) -> None:
    """One bulk UPDATE per (status, message): the review results of a batch, in one transaction."""
    if not outcomes:
        return
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for row_id, status, message in outcomes:
        groups[(status, message)].append(row_id)
    with transaction(engine) as session:
        for (status, message), ids in groups.items():
            session.execute(update(Assignment).where(Assignment.id.in_(ids)).values(
                review_status=status, review_message=message, reviewed_at=now,
                mturk_status="Approved" if status == ReviewStatus.APPROVED else "Rejected"))


def _settle(client: Any, assignment_id: str) -> str | None:
    """After a failed approve/reject: MTurk's own status decides (it was done before a crash)."""
    try:
        status = client.get_assignment(AssignmentId=assignment_id)["Assignment"]["AssignmentStatus"]
    except ClientError:
        return None
    return {"Approved": ReviewStatus.APPROVED, "Rejected": ReviewStatus.REJECTED}.get(status)


# --------------------------------------------------------------------------------------------- workers

class WorkerActionError(Exception):
    """A worker action that cannot be done (unknown assignment, over budget, ...)."""


def send_bonus(engine: Engine, settings: Any, worker_id: str, assignment_id: str, amount_cents: int,
               reason: str) -> Bonus:
    """Record the bonus (token first), check the job's budget, then SendBonus."""
    from broker.domain.money import bonus_fee_cents, cents_to_usd
    from broker.status import job_money

    if amount_cents <= 0:
        raise WorkerActionError("a bonus must be at least 1 cent")
    if not reason.strip():
        raise WorkerActionError("a bonus needs a reason (workers see it)")
    token = bonus_token(assignment_id, amount_cents, reason)
    with transaction(engine) as session:
        assignment = session.exec(select(Assignment).where(Assignment.assignment_id == assignment_id)).first()
        if assignment is None or assignment.worker_id != worker_id:
            raise WorkerActionError(f"no assignment {assignment_id} by worker {worker_id} in the broker DB")
        job = session.get(Job, assignment.job_id)
        bonus = session.exec(select(Bonus).where(Bonus.token == token)).first()
        if bonus is None:
            fee = bonus_fee_cents(amount_cents)
            if job.budget_cents is not None:
                money = job_money(session, job.id)
                if money.spent_cents + money.committed_cents + amount_cents + fee > job.budget_cents:
                    raise WorkerActionError(f"bonus of {amount_cents}+{fee} cents would exceed job {job.name}'s budget")
            bonus = Bonus(token=token, worker_id=worker_id, assignment_id=assignment_id, job_id=job.id,
                          amount_cents=amount_cents, fee_cents=fee, reason=reason, created_at=utcnow())
            session.add(bonus)
    if bonus.sent:
        return bonus
    client = mturk.client_for(mturk.resolve_target(job.marketplace, settings))
    client.send_bonus(WorkerId=worker_id, BonusAmount=cents_to_usd(amount_cents), AssignmentId=assignment_id,
                      Reason=reason, UniqueRequestToken=token)
    with transaction(engine) as session:
        row = session.get(Bonus, bonus.id)
        row.sent = True
        session.add(row)
        record_event(session, job.id, "bonus", f"{amount_cents} cents to {worker_id} for {assignment_id}")
    bonus.sent = True
    return bonus


def block_worker(engine: Engine, client: Any, worker_id: str, reason: str) -> None:
    if not reason.strip():
        raise WorkerActionError("blocking needs a reason (MTurk requires one)")
    client.create_worker_block(WorkerId=worker_id, Reason=reason)
    _set_blocked(engine, worker_id, True, reason)


def unblock_worker(engine: Engine, client: Any, worker_id: str, reason: str = "") -> None:
    params = {"WorkerId": worker_id}
    if reason:
        params["Reason"] = reason
    client.delete_worker_block(**params)
    _set_blocked(engine, worker_id, False, None)


def message_workers(client: Any, worker_ids: list[str], subject: str, body: str) -> list[dict]:
    """NotifyWorkers in chunks of 100; returns MTurk's per-worker failures."""
    failures: list[dict] = []
    for start in range(0, len(worker_ids), 100):
        response = client.notify_workers(Subject=subject, MessageText=body, WorkerIds=worker_ids[start:start + 100])
        failures += response.get("NotifyWorkersFailureStatuses", [])
    return failures


def _set_blocked(engine: Engine, worker_id: str, blocked: bool, reason: str | None) -> None:
    with transaction(engine) as session:
        worker = session.get(Worker, worker_id) or Worker(worker_id=worker_id)
        worker.blocked = blocked
        worker.block_reason = reason
        session.add(worker)
        record_event(session, None, "block" if blocked else "unblock", f"{worker_id}: {reason or ''}")
