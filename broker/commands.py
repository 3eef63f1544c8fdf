"""What a requester asks for by hand: cancel a job, review answers, block, unblock or message workers,
send a bonus.

Commands are not tick code: the CLI calls them once. They may use the stages' public functions
(collecting the answers of a cancelled job) and the crash-safe marketplace actions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from broker import mturk
from broker.actions import bonuses
from broker.actions.bonuses import WorkerActionError
from broker.actions.hits import finish_creating, grant_read_access_for
from broker.domain.lifecycle import JobStatus, ObjectStatus
from broker.domain.rules import Decision, agreement
from broker.output import REASON_STOPPED
from broker.stages.collect import CollectReport, collect_hits
from broker.stages.review import ReviewReport, apply_decisions, worker_agreements
from broker.store import reading, record_event, transaction
from broker.store.answers import review_candidates
from broker.store.engine import Engine
from broker.store.jobs import job_spec
from broker.store.progress import open_hit_ids, stop_job
from broker.store.streams import pending_object_count
from broker.store.tables import Bonus, Job
from broker.store.transitions import advance
from broker.store.workers import set_worker_blocked

EXPIRED_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
NOTIFY_CHUNK = 100


def stop_streaming_job(engine: Engine, job_id: int) -> dict[str, int]:
    """End a streaming job cleanly: it takes no new objects from its input; the objects it already
    took in are still published, the open HITs run until answered or expired (not extended), and
    once everything is reviewed, consolidated and written the finalize tick completes it."""
    with transaction(engine) as session:
        job = session.get(Job, job_id)
        if not job_spec(job).streaming:
            raise ValueError(f"job {job.name} is not a streaming job; `broker cancel {job.name}` stops a batch job")
        if job.status != JobStatus.ACTIVE:
            raise ValueError(f"job {job.name} is {job.status}; only an active streaming job can be stopped")
        advance(session, [job.id], JobStatus.STOPPING)
        pending = pending_object_count(session, job.id)
        record_event(session, job.id, "stopping", f"stopped by the requester; {pending} objects still to publish")
        return {"objects_pending": pending, "hits_open": len(open_hit_ids(session, job.id))}


def cancel_job(engine: Engine, settings: Any, job_id: int, *, now: datetime | None = None) -> dict[str, int]:
    """Expire every open HIT, keep what was answered, fail the rest as stopped.

    The answers already submitted are collected at once (they are still reviewed, paid and
    consolidated by the next ticks); objects without any answer are failed with REASON_STOPPED.
    """
    with transaction(engine) as session:
        job = session.get(Job, job_id)
        if job.status == JobStatus.COMPLETED:
            raise ValueError(f"job {job.name} is already completed")
        stopped = stop_job(session, job, REASON_STOPPED)
        session.refresh(job)
    target = mturk.resolve_target(job.marketplace, settings)
    client = mturk.client_for(target)
    spec = job_spec(job)
    if job.hit_type_id:  # rows a crash left in "creating" first, so no HIT escapes the cancel
        finish_creating(engine, client, job, spec, grant_read_access_for(target, settings))
    with reading(engine) as session:
        open_ids = open_hit_ids(session, job_id)
    for hit_id in open_ids:
        client.update_expiration_for_hit(HITId=hit_id, ExpireAt=EXPIRED_LONG_AGO)
    report = CollectReport()
    for start in range(0, len(open_ids), 100):
        collect_hits(
            engine,
            client,
            job,
            spec,
            [{"HITId": h} for h in open_ids[start : start + 100]],
            0,
            report,
            now,
            zero_answer_reason=REASON_STOPPED,
        )
    return {
        "hits_expired": len(open_ids),
        "assignments_kept": report.assignments_stored,
        "objects_stopped": stopped + report.objects_failed,
    }


def send_bonus(
    engine: Engine, settings: Any, worker_id: str, assignment_id: str, amount_cents: int, reason: str
) -> Bonus:
    """`broker worker bonus`: one bonus, paid once (broker.actions.bonuses); fails fast when the endpoint is down."""
    return bonuses.send_bonus(engine, settings, worker_id, assignment_id, amount_cents, reason, quick=True)


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
    for start in range(0, len(worker_ids), NOTIFY_CHUNK):
        response = client.notify_workers(
            Subject=subject, MessageText=body, WorkerIds=worker_ids[start : start + NOTIFY_CHUNK]
        )
        failures += response.get("NotifyWorkersFailureStatuses", [])
    return failures


def _set_blocked(engine: Engine, worker_id: str, blocked: bool, reason: str | None) -> None:
    with transaction(engine) as session:
        set_worker_blocked(session, worker_id, blocked, reason)
        record_event(session, None, "block" if blocked else "unblock", f"{worker_id}: {reason or ''}")


__all__ = [
    "WorkerActionError",
    "block_worker",
    "cancel_job",
    "stop_streaming_job",
    "message_workers",
    "send_bonus",
    "unblock_worker",
]


# ----------------------------------------------------------------------------------------- review

REVIEW_FLAGS = ("unreadable", "invalid", "no-label", "disagrees")


@dataclass(frozen=True)
class ReviewItem:
    """One answer waiting for review, with what a requester judges it by."""

    row_id: int
    assignment_id: str
    worker_id: str
    object_index: int
    answer: str  # the chosen labels, or the answer's own words when it chose none
    flags: tuple[str, ...]  # REVIEW_FLAGS that apply
    reason: str  # why it is flagged (the answer's check error), "" when not
    worker_agreement: float | None  # the worker's agreement with consolidated labels, over n objects
    worker_judged: int
    auto_approval_time: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **{key: getattr(self, key) for key in self.__dataclass_fields__ if key != "row_id"},
            "flags": list(self.flags),
            "auto_approval_time": self.auto_approval_time.isoformat() if self.auto_approval_time else None,
        }


@dataclass(frozen=True)
class ReviewFilter:
    """Which waiting answers a review command lists or acts on (every given condition holds)."""

    assignment_ids: tuple[str, ...] = ()
    worker_ids: tuple[str, ...] = ()
    max_agreement: float | None = None  # workers agreeing less than this (judged ones only)
    flags: tuple[str, ...] = ()  # any of these flags

    def keeps(self, item: ReviewItem) -> bool:
        if self.assignment_ids and item.assignment_id not in self.assignment_ids:
            return False
        if self.worker_ids and item.worker_id not in self.worker_ids:
            return False
        if self.max_agreement is not None and (
            item.worker_agreement is None or item.worker_agreement >= self.max_agreement
        ):
            return False
        return not self.flags or bool(set(self.flags) & set(item.flags))


def _chosen(chosen_json: str | None, labels: list[str]) -> list[int] | None:
    if chosen_json is None:
        return None
    value = json.loads(chosen_json)
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return value
    return None


def _review_item(row: Any, labels: list[str], scores: dict[str, tuple[float, int]]) -> ReviewItem:
    chosen = _chosen(row.chosen_json, labels)
    flags: list[str] = []
    if row.answer_json is None:
        flags.append("unreadable")
    elif row.answer_error:
        flags.append("invalid")
    if labels and row.answer_json is not None and chosen is None and not row.answer_error:
        flags.append("no-label")
    if chosen is not None and row.status == ObjectStatus.CONSOLIDATED and row.label_json is not None:
        consolidated = json.loads(row.label_json)
        consolidated = consolidated if isinstance(consolidated, list) else [consolidated]
        if agreement(chosen, consolidated) < 1.0:
            flags.append("disagrees")
    if chosen is not None and labels:
        answer = ", ".join(labels[i] for i in chosen if 0 <= i < len(labels))
    else:
        answer = (row.answer_json or row.answer_error or "")[:80]
    score, judged = scores.get(row.worker_id, (None, 0))
    return ReviewItem(
        row.id,
        row.assignment_id,
        row.worker_id,
        int(row.index),
        answer,
        tuple(flags),
        " ".join((row.answer_error or "").split())[:200],
        score,
        judged,
        row.auto_approval_time,
    )


def review_queue(engine: Engine, job: Job, only: ReviewFilter | None = None) -> list[ReviewItem]:
    """The job's answers awaiting review (oldest first) that `only` keeps."""
    labels = job.labels
    with reading(engine) as session:
        rows = review_candidates(session, job.id)
        scores = worker_agreements(session, job) if rows else {}
    items = [_review_item(row, labels, scores) for row in rows]
    return [item for item in items if only is None or only.keeps(item)]


def review_answers(
    engine: Engine, settings: Any, job: Job, items: list[ReviewItem], *, approve: bool, reason: str
) -> ReviewReport:
    """Approve or reject these answers on the marketplace, the reason sent to each worker; then record it.

    A rejection needs a reason (the worker sees why); an approval may carry one (e.g. a thank-you).
    """
    if not approve and not reason.strip():
        raise WorkerActionError("a rejection needs --reason: the worker is told why")
    client = mturk.client_for(mturk.resolve_target(job.marketplace, settings), quick=True)
    decisions = [Decision(item.row_id, item.assignment_id, approve, reason.strip() or None) for item in items]
    report = apply_decisions(engine, client, job, decisions)
    with transaction(engine) as session:
        verb = "approved" if approve else "rejected"
        record_event(
            session,
            job.id,
            "review",
            f"{verb} by hand: {report.approved + report.rejected} answers" + (f" ({reason.strip()})" if reason else ""),
        )
    return report
