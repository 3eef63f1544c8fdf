"""The collect tick: ListReviewableHITs per HIT type (pages of 100), ListAssignmentsForHIT per HIT.

Answers are stored verbatim (the QuestionFormAnswers XML) next to their decoded form, in the
same transaction that records the HIT as collected. Only then is the HIT moved to Reviewing on
the marketplace (so the next ListReviewableHITs no longer returns it); a crash in between
just repeats that one call. A HIT that expired short of answers is extended (UpdateExpirationForHIT,
no new money: its assignments were committed when it was created) up to the policy's limit.

A job with `notifications:` is collected from MTurk's SQS event messages instead (only the HITs
they name, see collect_notified), and polled as above only every `fallback_seconds`, so a lost
message delays a HIT and loses nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from broker import mturk, queues
from broker.domain.answers import AnswerError, chosen_labels, decode_answer_data
from broker.domain.clock import utcnow
from broker.domain.lifecycle import HitStatus, JobStatus, ObjectStatus, ReviewStatus
from broker.output import REASON_EXPIRED
from broker.store.claims import claim_jobs, renew_lease
from broker.store.engine import Engine, Session, reading, transaction
from broker.store.events import record_event
from broker.store.hits import (
    hits_by_marketplace_id,
    hits_to_collect,
    item_ids,
    mark_hits_done,
    mirror_batch_state,
    object_data_json,
    objects_awaiting_answers,
    save_collected,
    stored_assignment_ids,
)
from broker.store.jobs import job_spec
from broker.store.streams import EVENT, SQS_LONGEST_RETENTION, forget_event_marks, last_poll, marked, set_last_poll
from broker.store.streams import mark as record_marks
from broker.store.tables import Job
from broker.tasks.registry import task_type
from broker.verify.answers import apply_verdicts
from broker.verify.batching import is_verification

log = logging.getLogger(__name__)

DEFAULT_MAX_EXTENSIONS = 1
LISTING_PAGE = 100  # ListReviewableHITs page size: an unmarked Reviewable HIT costs 1/100 call per listing
ASSIGNMENT_STATUSES = ["Submitted", "Approved", "Rejected"]
_REVIEW_FROM_MTURK = {"Approved": ReviewStatus.APPROVED, "Rejected": ReviewStatus.REJECTED}


@dataclass
class CollectReport:
    hits_seen: int = 0
    hits_collected: int = 0
    hits_extended: int = 0
    assignments_stored: int = 0
    objects_failed: int = 0
    events_received: int = 0  # notification events of the job's HIT type, new ones only
    fallback_polls: int = 0  # notification jobs: polls of every reviewable HIT
    errors: list[str] = field(default_factory=list)


def max_extensions(spec: Any) -> int:
    policy = getattr(spec, "review_policy", None)
    for name in ("max_extensions", "extensions", "expired_extensions"):
        value = getattr(policy, name, None)
        if isinstance(value, int):
            return value
    return DEFAULT_MAX_EXTENSIONS


def should_mark_reviewing(remaining_seconds: float | None, collect_interval_seconds: float) -> bool:
    """Mark collected HITs Reviewing (1 call each) only when that is cheaper than re-listing them.

    An unmarked Reviewable HIT is returned again by every later ListReviewableHITs: 1/100 of a
    call per collect tick. Marking it costs one call, once. So mark when more than 100 collect
    ticks are still expected before the job ends (unknown remaining time: mark).
    """
    if remaining_seconds is None:
        return True
    return remaining_seconds / max(collect_interval_seconds, 1e-9) > LISTING_PAGE


def remaining_seconds(session: Session, job: Job, now: datetime) -> float | None:
    """Expected time until the job's last object is answered, from its progress so far."""
    unfinished = objects_awaiting_answers(session, job.id)
    finished = job.n_objects - unfinished
    if unfinished == 0:
        return 0.0
    if finished <= 0 or job.created_at is None:
        return None
    return (now - job.created_at).total_seconds() / finished * unfinished


def _pages(client: Any, operation: str, key: str, *, at_most: int | None = None, **params: Any) -> Iterator[list[dict]]:
    """Every page of a List* call (MaxResults 100, following NextToken).

    MTurk sends a NextToken with the last page that has results, so following it costs a call
    that returns nothing; `at_most` (when the total cannot exceed it, e.g. a HIT's
    MaxAssignments) stops as soon as that many results are in.
    """
    token, seen = None, 0
    while True:
        kwargs = dict(params, MaxResults=100)
        if token:
            kwargs["NextToken"] = token
        response = getattr(client, operation)(**kwargs)
        page = response.get(key, [])
        seen += len(page)
        yield page
        token = response.get("NextToken")
        if not token or (at_most is not None and seen >= at_most):
            return


def collect_tick(
    engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None, now: datetime | None = None
) -> CollectReport:
    report = CollectReport()
    with reading(engine) as session:
        jobs = claim_jobs(session, "collect", job_ids)
    for job in jobs:
        if job.hit_type_id is None:  # nothing published yet
            continue
        try:
            collect_job(engine, settings, job, report, now=now)
        except ClientError as exc:
            message = f"job {job.name}: {mturk.error_code(exc)}: {mturk.error_message(exc)}"
            log.warning("collect: %s", message)
            report.errors.append(message)
    return report


def collect_job(engine: Engine, settings: Any, job: Job, report: CollectReport, *, now: datetime | None = None) -> None:
    spec = job_spec(job)
    client = mturk.client_for(mturk.resolve_target(job.marketplace, settings))
    extensions_allowed = max_extensions(spec) if job.status == JobStatus.ACTIVE else 0
    interval = float(getattr(getattr(settings, "ticks", None), "collect_seconds", 30))
    notifications = getattr(spec, "notifications", None)
    if notifications is not None:  # listings happen only at the fallback poll
        interval = max(interval, float(notifications.fallback_seconds))

    def mark() -> bool:  # decided after each page is stored, with the progress it made
        with reading(engine) as session:
            return should_mark_reviewing(remaining_seconds(session, job, now or utcnow()), interval)

    if notifications is not None:
        try:
            collect_notified(engine, settings, client, job, spec, extensions_allowed, report, now, mark)
        except queues.QueueError as exc:  # the queue unreachable: the fallback poll still runs when due
            message = f"job {job.name}: notifications: {exc}"
            log.warning("collect: %s", message)
            report.errors.append(message)
        started = now or utcnow()
        with reading(engine) as session:
            last = last_poll(session, job.id)
        if last is not None and (started - last).total_seconds() < notifications.fallback_seconds:
            return
        report.fallback_polls += 1
    for page in _pages(client, "list_reviewable_hits", "HITs", HITTypeId=job.hit_type_id, Status="Reviewable"):
        report.hits_seen += len(page)
        if not renew_lease():  # a long collection: keep the job's lease between pages, or stop when lost
            return
        if page:
            collect_hits(engine, client, job, spec, page, extensions_allowed, report, now, mark=mark)
    if notifications is not None:
        with transaction(engine) as session:
            set_last_poll(session, job.id, started)
            forget_event_marks(session, job.id, made_before=started - SQS_LONGEST_RETENTION)


MAX_MESSAGES_PER_TICK = 1000  # the rest wait for the next tick (the queue keeps them)


def collect_notified(
    engine: Engine,
    settings: Any,
    client: Any,
    job: Job,
    spec: Any,
    extensions_allowed: int,
    report: CollectReport,
    now: datetime | None,
    mark: Callable[[], bool],
) -> None:
    """Collect the HITs that MTurk's event messages name, then delete the messages.

    At least once: messages are deleted only after the answers are stored and their EventDocIds
    recorded; a document seen before (a redelivery) is only deleted. Events of other HIT types
    (another job on the same queue) are dropped; that job's fallback poll still finds its HITs.
    """
    queue = spec.notifications.queue
    messages: list[queues.Message] = []
    while len(messages) < MAX_MESSAGES_PER_TICK:
        batch = queues.receive(queue, settings)
        if not batch:
            break
        messages += batch
    if not messages:
        return
    documents: dict[str, list[dict]] = {}
    for message in messages:
        document = _event_document(message.body)
        if document is None:
            report.errors.append(f"job {job.name}: {queue}: message {message.message_id} is not an MTurk event")
            continue
        documents[str(document["EventDocId"])] = document["Events"]
    with reading(engine) as session:
        seen = marked(session, job.id, EVENT, documents)
    events = [
        event
        for doc_id, doc_events in documents.items()
        if doc_id not in seen
        for event in doc_events
        if isinstance(event, dict) and event.get("HITTypeId") == job.hit_type_id and event.get("HITId")
    ]
    report.events_received += len(events)
    ready = {event["HITId"] for event in events if event.get("EventType") == "HITReviewable"}
    others = {event["HITId"] for event in events} - ready
    with reading(engine) as session:
        rows = hits_by_marketplace_id(session, job.id, sorted(ready | others))
    open_rows = {hit_id: row for hit_id, row in rows.items() if row.status == HitStatus.OPEN}
    for hit_id in sorted(others & set(open_rows)):  # an assignment event: is the HIT finished yet?
        if client.get_hit(HITId=hit_id)["HIT"].get("HITStatus") == "Reviewable":
            ready.add(hit_id)
    page = [
        {"HITId": hit_id, "MaxAssignments": open_rows[hit_id].max_assignments}
        for hit_id in sorted(ready)
        if hit_id in open_rows
    ]
    report.hits_seen += len(page)
    if page:
        collect_hits(engine, client, job, spec, page, extensions_allowed, report, now, mark=mark)
    with transaction(engine) as session:
        record_marks(session, job.id, EVENT, set(documents) - seen)
    queues.delete(queue, messages, settings)


def _event_document(body: str) -> dict | None:
    """MTurk's notification document ({"EventDocId", "Events": [...]}), or None for anything else."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(document, dict) or "EventDocId" not in document or not isinstance(document.get("Events"), list):
        return None
    return document


def collect_hits(
    engine: Engine,
    client: Any,
    job: Job,
    spec: Any,
    page: list[dict],
    extensions_allowed: int,
    report: CollectReport,
    now: datetime | None,
    zero_answer_reason: str = "",
    *,
    mark: bool | Callable[[], bool] = True,
) -> None:
    """Store the assignments of these marketplace HITs (dicts with HITId); mark them Reviewing if `mark`."""
    ids = [remote["HITId"] for remote in page]
    with reading(engine) as session:
        rows = hits_by_marketplace_id(session, job.id, ids)
        open_ids = [hit_id for hit_id, hit in rows.items() if hit.status == HitStatus.OPEN]
        known = stored_assignment_ids(session, open_ids) if open_ids else set()
    fetched: dict[str, list[dict]] = {}
    for remote in page:
        hit = rows.get(remote["HITId"])
        if hit is None or hit.status != HitStatus.OPEN:
            continue
        fetched[hit.hit_id] = [
            a
            for assignments in _pages(
                client,
                "list_assignments_for_hit",
                "Assignments",
                HITId=hit.hit_id,
                AssignmentStatuses=ASSIGNMENT_STATUSES,
                at_most=remote.get("MaxAssignments"),
            )
            for a in assignments
        ]
    to_mark, to_extend = _store(engine, job, rows, fetched, known, extensions_allowed, report, zero_answer_reason)
    expirations = {remote["HITId"]: _aware(remote.get("Expiration")) for remote in page}
    for hit_id in to_extend:
        # from the later of our clock and the HIT's own expiry (a marketplace clock may run ahead)
        base = max(filter(None, [now or utcnow(), expirations.get(hit_id)]))
        expire_at = base + timedelta(seconds=int(spec.lifetime_seconds))
        client.update_expiration_for_hit(HITId=hit_id, ExpireAt=expire_at)
        report.hits_extended += 1
    to_mark += [hit_id for hit_id, hit in rows.items() if hit.status == HitStatus.COLLECTED]
    if not to_mark or not (mark() if callable(mark) else mark):
        return
    for hit_id in to_mark:
        client.update_hit_review_status(HITId=hit_id, Revert=False)
    with transaction(engine) as session:
        mark_hits_done(session, job.id, to_mark)


def _store(
    engine: Engine,
    job: Job,
    rows: dict[str, Any],
    fetched: dict[str, list[dict]],
    known: set[str],
    extensions_allowed: int,
    report: CollectReport,
    zero_answer_reason: str = "",
) -> tuple[list[str], list[str]]:
    """One transaction: new assignments, HIT and object states. Returns (to mark Reviewing, to extend)."""
    if not fetched:  # every HIT of the page was collected before: nothing to write
        return [], []
    to_mark: list[str] = []
    zero_answer_reason = zero_answer_reason or REASON_EXPIRED
    to_extend: list[str] = []
    labels = job.labels
    with transaction(engine) as session:
        # plain rows in, bulk UPDATEs out (ORM objects cost ~0.1 ms per HIT here); an object shared by
        # two HITs of the page (a re-published object) sees the first HIT's changes, as before
        hits, objects = hits_to_collect(session, {rows[hit_id].id for hit_id in fetched})
        moved = {row_id for row_id, hit in hits.items() if hit["status"] != HitStatus.OPEN}
        for row_id in moved:  # collected meanwhile (by the cancel command): its answers are stored
            del hits[row_id]
        kind = task_type(job.task_type).annotation
        data_objects = {} if kind is None else object_data_json(session, objects)  # a span is checked against its text
        new_rows: list[dict[str, Any]] = []
        # a verification HIT holds one verdict per object of its batch
        batches = item_ids(session, list(hits)) if is_verification(job) else {}
        for hit_id, assignments in fetched.items():
            if rows[hit_id].id in moved:
                continue
            hit = hits[rows[hit_id].id]
            obj = objects[hit["object_id"]]
            for remote in assignments:
                if remote["AssignmentId"] in known:
                    continue
                row = _assignment_row(remote, hit, job, labels)
                if kind is not None:
                    row = read_structured(row, kind, labels, json.loads(data_objects[hit["object_id"]]))
                new_rows.append(apply_verdicts(row, batches[hit["id"]]) if batches else row)
                known.add(remote["AssignmentId"])
            total = len(assignments)
            obj["n_answers"] = total
            if total < hit["max_assignments"] and hit["extensions"] < extensions_allowed:
                hit["extensions"] += 1
                to_extend.append(hit_id)
                record_event(
                    session,
                    job.id,
                    "hit-extended",
                    f"HIT {hit_id} (object {obj['index']}) expired with {total}/{hit['max_assignments']} answers",
                )
            else:
                hit["to"] = HitStatus.COLLECTED
                to_mark.append(hit_id)
                report.hits_collected += 1
                if total == 0:
                    obj["to"] = ObjectStatus.FAILED
                    obj["failure_reason"] = zero_answer_reason + (
                        f" (after {hit['extensions']} extension{'s' if hit['extensions'] > 1 else ''})"
                        if hit["extensions"] and zero_answer_reason == REASON_EXPIRED
                        else ""
                    )
                    report.objects_failed += 1
                elif obj.get("to", obj["status"]) in (ObjectStatus.PUBLISHED, ObjectStatus.PENDING):
                    obj["to"] = ObjectStatus.ANSWERED
        if is_verification(job):  # a batch HIT's other objects follow its first one
            objects.update(mirror_batch_state(session, hits, objects))
        save_collected(session, job.id, hits, objects, new_rows)
        report.assignments_stored += len(new_rows)
    return to_mark, to_extend


def _assignment_row(remote: dict, hit: dict[str, Any], job: Job, labels: list[str]) -> dict[str, Any]:
    """An Assignment row (as a dict, for one bulk INSERT): raw XML, decoded answer, chosen classes."""

    data, answer_error = decode_answer_data(remote.get("Answer") or "")
    answer_json = json.dumps(data) if data is not None else None
    # answer_labels(answer_json, labels) without decoding the JSON just encoded
    chosen = chosen_labels(data, {label: i for i, label in enumerate(labels)}) if answer_json else None
    status = remote.get("AssignmentStatus", "Submitted")
    return {
        "assignment_id": remote["AssignmentId"],
        "hit_row_id": hit["id"],
        "job_id": job.id,
        "object_id": hit["object_id"],
        "worker_id": remote["WorkerId"],
        "mturk_status": status,
        "accept_time": _aware(remote.get("AcceptTime")),
        "submit_time": _aware(remote.get("SubmitTime")),
        "auto_approval_time": _aware(remote.get("AutoApprovalTime")),
        "answer_xml": remote.get("Answer") or "",
        "answer_json": answer_json,
        "answer_error": answer_error,
        "chosen_json": json.dumps(chosen) if chosen is not None else None,
        "review_status": _REVIEW_FROM_MTURK.get(status, ReviewStatus.PENDING),
        "review_message": None,
        "reviewed_at": None,
        "cost_cents": hit["assignment_cost_cents"],
        "written": False,
    }


def read_structured(row: dict[str, Any], kind: Any, labels: list[str], data_object: dict[str, Any]) -> dict[str, Any]:
    """A box or span answer: chosen_json = its checked shapes, or None with the reason in
    answer_error; the raw and decoded answer stay as they are (flagged, not lost)."""
    if row["answer_json"] is None:
        return row | {"chosen_json": None}
    try:
        return row | {"chosen_json": json.dumps(kind.read(json.loads(row["answer_json"]), labels, data_object))}
    except AnswerError as error:
        return row | {"chosen_json": None, "answer_error": str(error)}


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
