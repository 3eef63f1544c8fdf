"""What a requester asks for by hand: cancel a job, block, unblock or message workers, send a bonus.

Commands are not tick code: the CLI calls them once. They may use the stages' public functions
(collecting the answers of a cancelled job) and the crash-safe marketplace actions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from broker import mturk
from broker.actions import bonuses
from broker.actions.bonuses import WorkerActionError
from broker.actions.hits import finish_creating, grant_read_access_for
from broker.domain.lifecycle import JobStatus
from broker.output import REASON_STOPPED
from broker.stages.collect import CollectReport, collect_hits
from broker.store import reading, record_event, transaction
from broker.store.engine import Engine
from broker.store.jobs import job_spec
from broker.store.progress import open_hit_ids, stop_job
from broker.store.tables import Bonus, Job
from broker.store.workers import set_worker_blocked

EXPIRED_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
NOTIFY_CHUNK = 100


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


__all__ = ["WorkerActionError", "block_worker", "cancel_job", "message_workers", "send_bonus", "unblock_worker"]
