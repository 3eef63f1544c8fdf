"""The publish tick: CreateHITType once per job, then one HIT per pending data object.

A pending object gets its first HIT (attempt 0), or, when quality control put it back to
pending for more answers, its next one (attempt = the last one + 1, asking for the object's
max_assignments). Hit rows and their tokens are committed before any CreateHIT call
(broker.actions.hits), so a crash never yields a second HIT for one object and attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from botocore.exceptions import ClientError

from broker import mturk, queues
from broker.actions.hits import (
    HitsCreated,
    create_hits,
    finish_creating,
    grant_read_access_for,
    object_assignment_cost,
)
from broker.actions.qualifications import TeamNotFound, exclusion_requirements, team_requirements
from broker.domain.money import cents_to_usd
from broker.domain.tokens import request_token
from broker.output import REASON_BUDGET
from broker.store.claims import claim_jobs
from broker.store.engine import Engine, Session, reading, transaction
from broker.store.events import record_event
from broker.store.hits import (
    add_creating_hit,
    fail_objects,
    keep_answers_so_far,
    last_attempts,
    mark_published,
    open_hit_count,
    pending_batches,
    pending_object_ids,
    pending_objects,
    record_hit_type,
)
from broker.store.jobs import job_money, job_spec, lock_job
from broker.store.tables import DataObject, Hit, Job
from broker.verify.batching import batch_key, is_verification

log = logging.getLogger(__name__)

PUBLISH_BATCH = 100  # Hit rows committed per batch before their CreateHIT calls


@dataclass
class PublishReport:
    hits_created: int = 0
    hits_recovered: int = 0
    objects_failed: int = 0
    hit_types_created: int = 0
    blocked_by_budget: bool = False
    errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the tick


def publish_tick(engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None) -> PublishReport:
    """Publish pending objects of every active job, within concurrency and budget."""
    report = PublishReport()
    with reading(engine) as session:
        jobs = claim_jobs(session, "publish", job_ids)
    for job in jobs:
        try:
            _publish_job(engine, settings, job, report)
        except (ClientError, TeamNotFound, queues.QueueError) as exc:  # e.g. insufficient funds: retried next tick
            message = (
                f"job {job.id}: {exc}"
                if not isinstance(exc, ClientError)
                else f"job {job.id}: {mturk.error_code(exc)}: {mturk.error_message(exc)}"
            )
            log.warning("publish: %s", message)
            report.errors.append(message)
            with transaction(engine) as session:
                record_event(session, job.id, "publish-error", message)
    return report


def _publish_job(engine: Engine, settings: Any, job: Job, report: PublishReport) -> None:
    spec = job_spec(job)
    target = mturk.resolve_target(job.marketplace, settings)
    client = mturk.client_for(target)
    if job.hit_type_id is None and _create_hit_type(engine, client, job, spec, settings):
        report.hit_types_created += 1
    grant = grant_read_access_for(target, settings)
    _count(report, finish_creating(engine, client, job, spec, grant), recovering=True)

    while True:
        with transaction(engine) as session:
            lock_job(session, job.id)  # the budget read and the HIT inserts: one daemon at a time
            open_hits = open_hit_count(session, job.id)
            slots = min(PUBLISH_BATCH, job.max_concurrent_hits - open_hits)
            if slots <= 0:
                return
            pending = _pending_groups(session, job, spec, slots)  # each group: the objects of one HIT
            if not pending:
                return
            # an object may ask for its own number of answers (auto_label validation objects,
            # objects that quality control sent back for more answers)
            wanted = [group[0].max_assignments or job.workers_per_object for group in pending]
            costs = [object_assignment_cost(job, n) for n in wanted]
            affordable = len(pending)
            if job.budget_cents is not None:
                money = job_money(session, job.id)
                left = job.budget_cents - money.spent_cents - money.committed_cents
                totals = accumulate(c * n for c, n in zip(costs, wanted))
                affordable = sum(1 for total in totals if total <= left)
                if affordable == 0:
                    report.blocked_by_budget = True
                    if open_hits == 0:
                        _fail_unaffordable(session, job, left, costs[0] * wanted[0])
                    return
            pending = pending[:affordable]
            attempts = last_attempts(session, job.id, [obj.id for group in pending for obj in group])
            batch: list[tuple[Hit, DataObject]] = []
            for group, n_answers, obj_cost in zip(pending, wanted, costs):
                shown = [attempts[obj.id] for obj in group if obj.id in attempts]
                attempt = max(shown) + 1 if shown else 0
                key = batch_key(group) if is_verification(job) else group[0].index
                hit = add_creating_hit(
                    session,
                    job.id,
                    group,
                    attempt=attempt,
                    token=request_token(job, key, attempt),
                    max_assignments=n_answers,
                    reward_cents=job.reward_cents,
                    assignment_cost_cents=obj_cost,
                    link=is_verification(job),
                )
                batch.append((hit, group[0]))
            mark_published(session, job.id, [obj for group in pending for obj in group])
        _count(report, create_hits(engine, client, job, spec, grant, batch))


def _count(report: PublishReport, done: HitsCreated, *, recovering: bool = False) -> None:
    if recovering:
        report.hits_recovered += done.created
    else:
        report.hits_created += done.created
    report.objects_failed += done.failed


def _pending_groups(session: Session, job: Job, spec: Any, slots: int) -> list[list[DataObject]]:
    """Up to `slots` HITs' worth of pending objects: verification batches, else one object each."""
    if is_verification(job):
        return pending_batches(session, job.id, spec, slots)
    return [[obj] for obj in pending_objects(session, job.id, slots)]


def _fail_unaffordable(session: Session, job: Job, left: int, hit_cost: int) -> None:
    """Nothing open and not even one HIT affordable: the remaining objects fail, with the reason.

    An object that quality control sent back for more answers keeps the answers it has instead.
    """
    reason = f"{REASON_BUDGET} ({max(left, 0)} cents left; a HIT costs {hit_cost} cents)"
    pending = pending_object_ids(session, job.id)
    answered = set(last_attempts(session, job.id, pending))
    failed = [object_id for object_id in pending if object_id not in answered]
    fail_objects(session, job.id, failed, reason)
    keep_answers_so_far(session, job.id, sorted(answered), f"no budget for more answers: {reason}")
    record_event(
        session,
        job.id,
        "budget",
        f"{len(failed)} objects failed: {reason}"
        + (f"; {len(answered)} objects keep the answers they have" if answered else ""),
    )


NOTIFICATION_VERSION = "2014-08-15"


def notify_on(client: Any, hit_type_id: str, spec: Any, settings: Any) -> None:
    """UpdateNotificationSettings: MTurk sends the spec's events of this HIT type to its SQS queue."""
    notifications = getattr(spec, "notifications", None)
    if notifications is None:
        return
    client.update_notification_settings(
        HITTypeId=hit_type_id,
        Notification={
            "Destination": queues.queue_url(notifications.queue, settings),
            "Transport": "SQS",
            "Version": NOTIFICATION_VERSION,
            "EventTypes": list(notifications.events),
        },
        Active=True,
    )


def _create_hit_type(engine: Engine, client: Any, job: Job, spec: Any, settings: Any = None) -> bool:
    """CreateHITType once per job: under the job row's lock, so of daemons sharing the job one makes
    it and the others find it made. False when another daemon made it first."""
    with transaction(engine) as session:
        made = lock_job(session, job.id).hit_type_id
        if made is not None:
            job.hit_type_id = made
            return False
        params: dict[str, Any] = {
            "AutoApprovalDelayInSeconds": int(spec.auto_approval_delay_seconds),
            "AssignmentDurationInSeconds": int(spec.assignment_duration_seconds),
            "Reward": cents_to_usd(job.reward_cents),
            "Title": spec.title,
            "Description": spec.description,
        }
        if spec.keywords_text:
            params["Keywords"] = spec.keywords_text
        requirements = spec.qualification_requirements()
        requirements += team_requirements(client, spec)  # a private team's job: its members only
        requirements += exclusion_requirements(client, job, spec)
        if requirements:
            params["QualificationRequirements"] = requirements
        hit_type_id = client.create_hit_type(**params)["HITTypeId"]
        # before the HIT type is recorded: a crash in between repeats both (the same parameters give
        # the same HIT type), so no HIT of the job is ever created without its notifications
        notify_on(client, hit_type_id, spec, settings)
        record_hit_type(session, job.id, hit_type_id)
        record_event(session, job.id, "hit-type", f"HIT type {hit_type_id}")
    job.hit_type_id = hit_type_id
    return True
