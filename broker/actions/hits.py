"""Crash-safe HIT creation, shared by the publish stage and the cancel command.

A batch of Hit rows, each with its deterministic UniqueRequestToken, is committed *before* any
CreateHITWithHITType call for it. A restart finds rows still in "creating" and repeats the call
with the same token; MTurk answers HitAlreadyExists with the HITId, which is recorded. So a kill
at any instant never yields a second HIT for the same object and attempt.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from broker import mturk
from broker.domain.clock import utcnow
from broker.domain.money import assignment_cost_cents
from broker.domain.tokens import requester_annotation
from broker.render import render_object_html
from broker.storage import is_s3, is_url, local_files_url, presign_url
from broker.store.claims import claim_creating_hits
from broker.store.engine import Engine, Session, reading, transaction
from broker.store.hits import (
    cancel_uncreatable,
    confirm_created,
    creating_hits,
    hit_objects,
)
from broker.store.tables import DataObject, Hit, Job
from broker.templates import QuestionTooLarge, TemplateError, html_question
from broker.verify.batching import is_verification

log = logging.getLogger(__name__)

TOKEN_TRUST = timedelta(hours=23)  # MTurk keeps a UniqueRequestToken for 24 h

Grant = Callable[[str], str]


class PublishError(Exception):
    """A data object cannot be turned into a HIT (template error, too large, unreachable file)."""


@dataclass
class HitsCreated:
    """What a create_hits / finish_creating call did: HITs now open, objects failed (no HIT)."""

    created: int = 0
    failed: int = 0


def grant_read_access_for(target: mturk.MarketplaceTarget, settings: Any = None) -> Grant:
    """Ground Truth's grant_read_access: s3:// -> presigned URL; local file -> worker-site URL."""
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


def render_question(
    spec: Any,
    template_source: str,
    data: dict,
    grant: Grant,
    *,
    where: str,
    batch: list[tuple[str, dict]] | None = None,
) -> str:
    """HTMLQuestion XML for one data object, or for a verification `batch` of (id, data object);
    PublishError naming `where` on any failure."""
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
    return int(assignment_cost_cents(job.reward_cents, max_assignments, masters=job.masters))


def hit_assignment_cost(job: Job) -> int:
    """Reward + MTurk fee for one assignment of this job's HITs (fees by MaxAssignments, Masters)."""
    return object_assignment_cost(job, job.workers_per_object)


def finish_creating(engine: Engine, client: Any, job: Job, spec: Any, grant: Grant) -> HitsCreated:
    """Rows of the job left in "creating" by a crash: repeat their call with the stored token.

    A row older than MTurk's token memory is first looked for by its RequesterAnnotation, so
    it is never created twice.
    """
    with reading(engine) as session:
        rows = creating_hits(session, job.id)
    if not rows:
        return HitsCreated()
    log.info("publish: %d HITs of job %s left in 'creating'; repeating with their tokens", len(rows), job.name)
    result = HitsCreated()
    stale = [hit for hit, _ in rows if hit.created_at and utcnow() - hit.created_at > TOKEN_TRUST]
    if stale:
        found = find_hits_by_annotation(client, {hit.token for hit in stale})
        if found:
            recovered = [(hit.id, found[hit.token], None) for hit in stale if hit.token in found]
            with transaction(engine) as session:
                _record_created(session, job, recovered, [])
            result.created += len(recovered)
            rows = [(hit, obj) for hit, obj in rows if hit.token not in found]
    done = create_hits(engine, client, job, spec, grant, rows)
    return HitsCreated(result.created + done.created, result.failed + done.failed)


def create_hits(
    engine: Engine, client: Any, job: Job, spec: Any, grant: Grant, batch: Sequence[tuple[Hit, DataObject]]
) -> HitsCreated:
    """CreateHITWithHITType for each committed "creating" row (Hit, its first object), with the
    row's token; the results are committed together at the end, even when a call raises.

    The rows are claimed first (broker.store.claims): a row another daemon is creating right now
    is left to it, so daemons sharing a job never call CreateHIT for the same row at once.
    """
    created: list[tuple[int, str, datetime | None]] = []
    failed: list[tuple[int, int, str]] = []
    members: dict[int, list[DataObject]] = {}
    if is_verification(job):
        with reading(engine) as session:
            members = hit_objects(session, [hit.id for hit, _ in batch])
    interrupted: BaseException | None = None
    with transaction(engine) as session:
        mine = claim_creating_hits(session, [hit.id for hit, _ in batch])
        try:
            for hit, obj in batch:
                if hit.id not in mine:
                    continue
                where = f"object {obj.index} (manifest line {obj.line_number})"
                group = [(str(m.index), m.data) for m in members.get(hit.id, [])] or None
                try:
                    question = render_question(
                        spec, job.template_source, json.loads(obj.data_json), grant, where=where, batch=group
                    )
                except PublishError as exc:
                    failed.append((hit.id, obj.id, str(exc)))
                    continue
                hit_id, expires = _create_one(client, job, spec, hit, obj, question)
                created.append((hit.id, hit_id, expires))
        except BaseException as exc:  # what was created is recorded (below) before the error goes on
            interrupted = exc
        _record_created(session, job, created, failed)
    if interrupted is not None:
        raise interrupted
    return HitsCreated(len(created), len(failed))


def _create_one(
    client: Any, job: Job, spec: Any, hit: Hit, obj: DataObject, question: str
) -> tuple[str, datetime | None]:
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
        hit_id = mturk.hit_id_from_error(exc) or find_hits_by_annotation(client, {hit.token}).get(hit.token)
        if hit_id is None:
            raise
        return hit_id, None


def find_hits_by_annotation(client: Any, tokens: set[str]) -> dict[str, str]:
    """token -> HITId for HITs whose RequesterAnnotation carries one of `tokens` (ListHITs, all pages)."""
    found: dict[str, str] = {}
    for page in client.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 100}):
        for remote in page.get("HITs", []):
            match = re.search(r"token=(\S+)", remote.get("RequesterAnnotation") or "")
            if match and match.group(1) in tokens:
                found[match.group(1)] = remote["HITId"]
    return found


def _record_created(
    session: Session, job: Job, created: list[tuple[int, str, datetime | None]], failed: list[tuple[int, int, str]]
) -> None:
    if created:
        confirm_created(session, job.id, created)
    if failed:
        cancel_uncreatable(session, job.id, failed)
