"""The publish tick: CreateHITType once per job, then one HIT per pending data object.

Crash safety: a batch of Hit rows, each with its deterministic UniqueRequestToken, is committed
*before* any CreateHITWithHITType call for it. A restart finds rows still in "creating" and
repeats the call with the same token; MTurk answers HitAlreadyExists with the HITId, which is
recorded. So a kill at any instant never yields a second HIT for the same object and attempt.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any, Callable

from botocore.exceptions import ClientError
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broker import mturk
from broker.actions.qualifications import exclusion_requirements
from broker.domain.tokens import request_token, requester_annotation
from broker.db import (DataObject, Hit, HitStatus, Job, JobStatus, ObjectStatus, record_event,
                       transaction, utcnow)
from broker.verify.batching import (batch_key, batch_members, hit_objects, is_verification, link_objects,
                                    pending_batches)

log = logging.getLogger(__name__)

PUBLISH_BATCH = 100          # Hit rows committed per batch before their CreateHIT calls
TOKEN_TRUST = timedelta(hours=23)   # MTurk keeps a UniqueRequestToken for 24 h


class PublishError(Exception):
    """A data object cannot be turned into a HIT (template error, too large, unreachable file)."""


@dataclass
class PublishReport:
    hits_created: int = 0
    hits_recovered: int = 0
    objects_failed: int = 0
    hit_types_created: int = 0
    blocked_by_budget: bool = False
    errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- pure helpers

def grant_read_access_for(target: mturk.MarketplaceTarget, settings: Any = None) -> Callable[[str], str]:
    """Ground Truth's grant_read_access: s3:// -> presigned URL; local file -> worker-site URL."""
    from broker.storage import is_s3, is_url, local_files_url, presign_url

    expires = int(getattr(settings, "presign_expiry_seconds", 86_400))

    def grant(uri: str) -> str:
        uri = str(uri)
        if is_url(uri):
            return uri
        if is_s3(uri):
            return presign_url(uri, settings, expires_in=expires)
        if not target.is_local:
            raise PublishError(f"{uri}: a local file cannot be shown to workers on {target.name}; upload it to S3")
        return local_files_url(uri, target.worker_site_url)

    return grant


def render_question(spec: Any, template_source: str, data: dict, grant: Callable[[str], str], *,
                    where: str, batch: list[tuple[str, dict]] | None = None) -> str:
    """HTMLQuestion XML for one data object, or for a verification `batch` of (id, data object);
    PublishError naming `where` on any failure."""
    from broker.templates import QuestionTooLarge, TemplateError, html_question
    from broker.validate import render_object_html

    try:
        html = render_object_html(spec, template_source, data, grant, batch=batch)
        return html_question(html, int(getattr(spec, "frame_height", 0) or 0))
    except QuestionTooLarge as exc:
        size = getattr(exc, "size_bytes", None) or (exc.args[0] if exc.args else "?")
        raise PublishError(f"{where}: the HTMLQuestion is {size} bytes; MTurk allows 65,535") from exc
    except TemplateError as exc:
        line = getattr(exc, "line", None)
        at = f" (template line {line})" if line else ""
        raise PublishError(f"{where}: template error{at}: {exc}") from exc
    except PublishError as exc:
        raise PublishError(f"{where}: {exc}") from exc


def object_assignment_cost(job: Job, max_assignments: int) -> int:
    """Reward + MTurk fee for one assignment of a HIT asking for `max_assignments` answers."""
    from broker.domain.money import assignment_cost_cents

    return int(assignment_cost_cents(job.reward_cents, max_assignments, masters=job.masters))


def hit_assignment_cost(job: Job) -> int:
    """Reward + MTurk fee for one assignment of this job's HITs (fees by MaxAssignments, Masters)."""
    from broker.domain.money import assignment_cost_cents

    return int(assignment_cost_cents(job.reward_cents, job.workers_per_object, masters=job.masters))


# --------------------------------------------------------------------------- the tick

def publish_tick(engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None) -> PublishReport:
    """Publish pending objects of every active job, within concurrency and budget."""
    report = PublishReport()
    with Session(engine) as session:
        query = select(Job.id).where(Job.status == JobStatus.ACTIVE)
        ids = [i for i in session.exec(query) if job_ids is None or i in job_ids]
    for job_id in ids:
        try:
            _publish_job(engine, settings, job_id, report)
        except ClientError as exc:   # e.g. insufficient funds: rows stay "creating", retried next tick
            message = f"job {job_id}: {mturk.error_code(exc)}: {mturk.error_message(exc)}"
            log.warning("publish: %s", message)
            report.errors.append(message)
            with transaction(engine) as session:
                record_event(session, job_id, "publish-error", message)
    return report


def _publish_job(engine: Engine, settings: Any, job_id: int, report: PublishReport) -> None:
    from broker.status import job_money
    from broker.submit import job_spec

    with Session(engine) as session:
        job = session.get(Job, job_id)
    spec = job_spec(job)
    target = mturk.resolve_target(job.marketplace, settings)
    client = mturk.client_for(target)
    if job.hit_type_id is None:
        _create_hit_type(engine, client, job, spec)
        report.hit_types_created += 1
    grant = grant_read_access_for(target, settings)
    _finish_creating(engine, client, job, spec, grant, report)

    cost = hit_assignment_cost(job)
    while True:
        with transaction(engine) as session:
            open_hits = session.exec(
                select(func.count()).select_from(Hit)
                .where(Hit.job_id == job.id, Hit.status.in_([HitStatus.CREATING, HitStatus.OPEN]))
            ).one()
            slots = min(PUBLISH_BATCH, job.max_concurrent_hits - open_hits)
            if slots <= 0:
                return
            pending = _pending_groups(session, job, spec, slots)   # each group: the objects of one HIT
            if not pending:
                return
            # an object may ask for its own number of answers (auto_label validation objects)
            wanted = [group[0].max_assignments or job.workers_per_object for group in pending]
            costs = [cost if n == job.workers_per_object else object_assignment_cost(job, n) for n in wanted]
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
            batch: list[tuple[Hit, DataObject]] = []
            for group, n_answers, obj_cost in zip(pending[:affordable], wanted, costs):
                obj = group[0]
                token = request_token(job, batch_key(group) if is_verification(job) else obj.index, 0)
                hit = Hit(job_id=job.id, object_id=obj.id, attempt=0,
                          token=token, status=HitStatus.CREATING,
                          max_assignments=n_answers, reward_cents=job.reward_cents,
                          assignment_cost_cents=obj_cost, created_at=utcnow())
                session.add(hit)
                if is_verification(job):    # the HIT -> objects link, committed with the token
                    session.flush()
                    link_objects(session, hit.id, group)
                for member in group:
                    member.status = ObjectStatus.PUBLISHED
                    session.add(member)
                batch.append((hit, obj))
        _create_hits(engine, client, job, spec, grant, batch, report)


def _pending_groups(session: Session, job: Job, spec: Any, slots: int) -> list[list[DataObject]]:
    """Up to `slots` HITs' worth of pending objects: verification batches, else one object each."""
    if is_verification(job):
        return pending_batches(session, job.id, spec, slots)
    pending = session.exec(select(DataObject).where(DataObject.job_id == job.id,
                                                    DataObject.status == ObjectStatus.PENDING)
                           .order_by(DataObject.index).limit(slots)).all()
    return [[obj] for obj in pending]


def _fail_unaffordable(session: Session, job: Job, left: int, hit_cost: int) -> None:
    """Nothing open and not even one HIT affordable: the remaining objects fail, with the reason."""
    pending = session.exec(select(DataObject).where(DataObject.job_id == job.id,
                                                    DataObject.status == ObjectStatus.PENDING)).all()
    from broker.output import REASON_BUDGET

    reason = f"{REASON_BUDGET} ({max(left, 0)} cents left; a HIT costs {hit_cost} cents)"
    for obj in pending:
        obj.status = ObjectStatus.FAILED
        obj.failure_reason = reason
        session.add(obj)
    record_event(session, job.id, "budget", f"{len(pending)} objects failed: {reason}")


def _create_hit_type(engine: Engine, client: Any, job: Job, spec: Any) -> None:
    from broker.domain.money import cents_to_usd

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

    requirements += exclusion_requirements(client, job, spec)
    if requirements:
        params["QualificationRequirements"] = requirements
    hit_type_id = client.create_hit_type(**params)["HITTypeId"]
    with transaction(engine) as session:
        row = session.get(Job, job.id)
        row.hit_type_id = hit_type_id
        session.add(row)
        record_event(session, job.id, "hit-type", f"HIT type {hit_type_id}")
    job.hit_type_id = hit_type_id


def _finish_creating(engine: Engine, client: Any, job: Job, spec: Any, grant: Callable[[str], str],
                     report: PublishReport) -> None:
    """Rows left in "creating" by a crash: repeat their call with the stored token."""
    with Session(engine) as session:
        rows = session.exec(select(Hit, DataObject).join(DataObject, Hit.object_id == DataObject.id)
                            .where(Hit.job_id == job.id, Hit.status == HitStatus.CREATING)).all()
    if not rows:
        return
    log.info("publish: %d HITs of job %s left in 'creating'; repeating with their tokens", len(rows), job.name)
    stale = [hit for hit, _ in rows if hit.created_at and utcnow() - hit.created_at > TOKEN_TRUST]
    if stale:   # MTurk forgets a UniqueRequestToken after 24 h: look for those HITs by annotation first
        found = _find_hits_by_annotation(client, {hit.token for hit in stale})
        if found:
            _record_created(engine, job, [(hit.id, found[hit.token], None) for hit in stale if hit.token in found],
                            [], report, True)
            rows = [(hit, obj) for hit, obj in rows if hit.token not in found]
    _create_hits(engine, client, job, spec, grant, list(rows), report, recovering=True)


def _create_hits(engine: Engine, client: Any, job: Job, spec: Any, grant: Callable[[str], str],
                 batch: list[tuple[Hit, DataObject]], report: PublishReport, *, recovering: bool = False) -> None:
    """CreateHITWithHITType for each committed row; results committed together at the end."""
    created: list[tuple[int, str, datetime | None]] = []
    failed: list[tuple[int, int, str]] = []
    members = {}
    if is_verification(job):
        with Session(engine) as session:
            members = hit_objects(session, [hit.id for hit, _ in batch])
    try:
        for hit, obj in batch:
            where = f"object {obj.index} (manifest line {obj.line_number})"
            group = [(str(m.index), m.data) for m in members.get(hit.id, [])] or None
            try:
                question = render_question(spec, job.template_source, json.loads(obj.data_json), grant,
                                           where=where, batch=group)
            except PublishError as exc:
                failed.append((hit.id, obj.id, str(exc)))
                continue
            hit_id, expires = _create_one(client, job, spec, hit, obj, question)
            created.append((hit.id, hit_id, expires))
    finally:
        _record_created(engine, job, created, failed, report, recovering)


def _create_one(client: Any, job: Job, spec: Any, hit: Hit, obj: DataObject,
                question: str) -> tuple[str, datetime | None]:
    try:
        response = client.create_hit_with_hit_type(
            HITTypeId=job.hit_type_id,
            MaxAssignments=hit.max_assignments,
            LifetimeInSeconds=int(spec.lifetime_seconds),
            Question=question,
            RequesterAnnotation=requester_annotation(job.name, obj.index, hit.token),
            UniqueRequestToken=hit.token,
        )
        return response["HIT"]["HITId"], response["HIT"].get("Expiration")
    except ClientError as exc:
        if not mturk.is_hit_already_exists(exc):
            raise
        hit_id = mturk.hit_id_from_error(exc) or _find_hit_by_annotation(client, job, hit.token)
        if hit_id is None:
            raise
        return hit_id, None


def _find_hit_by_annotation(client: Any, job: Job, token: str) -> str | None:
    """Last resort when HitAlreadyExists carries no HITId: page through ListHITs."""
    return _find_hits_by_annotation(client, {token}).get(token)


def _find_hits_by_annotation(client: Any, tokens: set[str]) -> dict[str, str]:
    """token -> HITId for HITs whose RequesterAnnotation carries one of `tokens` (ListHITs, all pages)."""
    found: dict[str, str] = {}
    for page in client.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 100}):
        for remote in page.get("HITs", []):
            match = re.search(r"token=(\S+)", remote.get("RequesterAnnotation") or "")
            if match and match.group(1) in tokens:
                found[match.group(1)] = remote["HITId"]
    return found


def _record_created(engine: Engine, job: Job, created: list[tuple[int, str, datetime | None]],
                    failed: list[tuple[int, int, str]], report: PublishReport, recovering: bool) -> None:
    if not created and not failed:
        return
    with transaction(engine) as session:
        if created:
            session.execute(update(Hit), [{"id": row_id, "hit_id": hit_id, "status": HitStatus.OPEN,
                                           "expires_at": expires} for row_id, hit_id, expires in created])
        for row_id, object_id, reason in failed:
            session.execute(update(Hit).where(Hit.id == row_id).values(status=HitStatus.CANCELLED))
            batch = [member for member, _ in batch_members(session, [row_id]).get(row_id, [])] or [object_id]
            session.execute(update(DataObject).where(DataObject.id.in_(batch)).values(
                status=ObjectStatus.FAILED, failure_reason=reason))
            record_event(session, job.id, "object-failed", reason)
    if recovering:
        report.hits_recovered += len(created)
    else:
        report.hits_created += len(created)
    report.objects_failed += len(failed)


def extend_lifetime(now: datetime, lifetime_seconds: int) -> datetime:
    return now + timedelta(seconds=lifetime_seconds)
