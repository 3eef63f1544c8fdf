"""The intake tick: a streaming job takes new data objects from its input as they arrive.

A streaming job's `input` is one of
- a queue (`sqs://NAME` or a queue URL): each message is one manifest line, Ground Truth's
  streaming input (`{"source-ref": "s3://..."}` or `{"source": "text"}`);
- a manifest file (local or s3://) that grows: each complete new line is an object;
- an s3:// prefix ending in "/" (or a local folder): each new file under it is `{"source-ref": URI}`.

Objects get the next indices and start pending; the publish tick posts them as for any job.
Each object has a deduplication id, as in Ground Truth: the line's own
(`dataset-objectid-attribute-name` names the key holding it), else the SQS message id, the
file and byte offset of the line, or the object's URI. An id taken in before is skipped, so a
message delivered twice makes one object. Queue messages are deleted after the objects are
committed (at least once). Objects waiting to be published are kept to max_concurrent_hits, so a
backlog stays in the input (a queue's depth shows it). A job with a budget takes only as many
objects as the budget not yet committed can pay for; the rest wait in the input, and the job's
status says why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from broker import queues
from broker.actions.hits import hit_assignment_cost
from broker.domain.money import cents_to_usd
from broker.manifest import LineError, line_issues, parse_line
from broker.storage import StorageError, is_s3, list_uris, local_path, read_bytes
from broker.store.claims import claim_jobs
from broker.store.engine import Engine, reading, transaction
from broker.store.events import record_event
from broker.store.jobs import job_money, job_spec, lock_job
from broker.store.streams import INPUT, add_objects, marked, pending_object_count, set_input_offset, set_intake_note
from broker.store.tables import Job, JobStream

log = logging.getLogger(__name__)

MAX_OBJECTS_PER_TICK = 1000  # the rest wait in the input for the next tick
OBJECT_ID_KEY = "dataset-objectid-attribute-name"


@dataclass
class IntakeReport:
    objects_taken: int = 0
    duplicates: int = 0
    rejected: int = 0
    paused_by_budget: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Incoming:
    """One object from the input: its deduplication id, where it came from, and its line."""

    key: str
    where: str
    text: str
    line_number: int = 0


def intake_tick(engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None) -> IntakeReport:
    report = IntakeReport()
    with reading(engine) as session:
        jobs = [job for job in claim_jobs(session, "intake", job_ids) if job_spec(job).streaming]
    for job in jobs:
        try:
            _intake_job(engine, settings, job, report)
        except (queues.QueueError, StorageError) as exc:
            message = f"job {job.name}: input: {exc}"
            log.warning("intake: %s", message)
            report.errors.append(message)
    return report


def room_for(engine: Engine, job: Job) -> tuple[int | None, str | None]:
    """How many more objects the budget can pay for (None: no budget), and why none when 0."""
    if job.budget_cents is None:
        return None, None
    per_object = hit_assignment_cost(job) * job.workers_per_object
    with reading(engine) as session:
        left = job_money(session, job.id).left_of(job.budget_cents) or 0
        waiting = pending_object_count(session, job.id)  # taken in, not yet committed by a HIT
    room = max(0, left // per_object - waiting)
    if room:
        return room, None
    return 0, (
        f"budget committed: not taking new objects ({cents_to_usd(max(left, 0))} of "
        f"{cents_to_usd(job.budget_cents)} left, an object costs {cents_to_usd(per_object)})"
    )


def _intake_job(engine: Engine, settings: Any, job: Job, report: IntakeReport) -> None:
    spec = job_spec(job)
    room, why = room_for(engine, job)
    with transaction(engine) as session:
        set_intake_note(session, job.id, why)
    if room == 0:
        report.paused_by_budget.append(job.name)
        report.errors.append(f"job {job.name}: {why}")
        return
    with reading(engine) as session:  # a backlog beyond what can be published waits in the input
        backlog_room = job.max_concurrent_hits - pending_object_count(session, job.id)
    limit = min(MAX_OBJECTS_PER_TICK, backlog_room, MAX_OBJECTS_PER_TICK if room is None else room)
    if limit <= 0:
        return
    source = str(spec.input)
    if queues.is_queue(source):
        messages = queues.receive(source, settings, limit=limit)
        while messages and len(messages) < limit:
            more = queues.receive(source, settings, limit=limit - len(messages))
            if not more:
                break
            messages += more
        incoming = [Incoming(m.message_id, f"{source} message {m.message_id}", m.body) for m in messages]
        _take(engine, job, spec, incoming, report)
        queues.delete(source, messages, settings)
    elif source.endswith("/") or (not is_s3(source) and local_path(source).is_dir()):
        _take(engine, job, spec, _new_files(engine, job, source, settings, limit), report)
    else:
        _take_lines(engine, settings, job, spec, source, limit, report)


def _new_files(engine: Engine, job: Job, prefix: str, settings: Any, limit: int) -> list[Incoming]:
    uris = list_uris(prefix, settings)
    with reading(engine) as session:
        seen = marked(session, job.id, INPUT, uris)
    return [Incoming(uri, uri, json.dumps({"source-ref": uri})) for uri in uris if uri not in seen][:limit]


def _take_lines(engine: Engine, settings: Any, job: Job, spec: Any, uri: str, limit: int, report: IntakeReport) -> None:
    """The complete lines added to a watched manifest since the last tick (a partial last line waits)."""
    raw = read_bytes(uri, settings)
    with reading(engine) as session:
        row = session.get(JobStream, job.id)
        offset = row.input_offset if row else 0
    if len(raw) < offset:
        raise StorageError(f"{uri}: the file shrank below the {offset} bytes already taken in; append to it only")
    line_number = raw[:offset].count(b"\n")
    incoming: list[Incoming] = []
    position = offset
    while len(incoming) < limit:
        end = raw.find(b"\n", position)
        if end < 0:
            break
        line_number += 1
        text = raw[position:end].decode("utf-8", errors="replace").rstrip("\r").removeprefix("\ufeff")
        if text.strip():
            incoming.append(Incoming(f"{uri}@{position}", f"{uri}:{line_number}", text, line_number))
        position = end + 1
    _take(engine, job, spec, incoming, report, offset=position)


def _take(
    engine: Engine, job: Job, spec: Any, incoming: list[Incoming], report: IntakeReport, *, offset: int | None = None
) -> None:
    """Check each line as a manifest line of the job's task; add the good ones in one transaction."""
    good: list[tuple[str, str, int]] = []
    rejected: list[str] = []
    for item in incoming:
        try:
            line = parse_line(item.text, item.line_number, task_type=spec.task_type)
            issues = line_issues(spec, [line])
            if issues:
                raise LineError(issues[0].message, issues[0].field)
        except LineError as error:
            rejected.append(f"{item.where}: {error.field + ': ' if error.field else ''}{error}")
            continue
        data = dict(line.data)
        key = str(data[data[OBJECT_ID_KEY]]) if data.get(OBJECT_ID_KEY) in data else item.key
        if OBJECT_ID_KEY not in data:  # Ground Truth's service-assigned deduplication id
            attribute = f"${spec.label_attribute_name}-object-id"
            data[OBJECT_ID_KEY] = attribute
            data[attribute] = item.key
        good.append((key, json.dumps(data, ensure_ascii=False), item.line_number))
    with transaction(engine) as session:
        lock_job(session, job.id)  # indices are assigned by one daemon at a time
        added = add_objects(session, job.id, good)
        for problem in rejected:
            record_event(session, job.id, "intake-rejected", problem)
        if added:
            record_event(session, job.id, "intake", f"{added} new objects from {spec.input}")
        if offset is not None:
            set_input_offset(session, job.id, offset)
    report.objects_taken += added
    report.duplicates += len(good) - added
    report.rejected += len(rejected)
    report.errors += [f"job {job.name}: rejected {problem}" for problem in rejected]


__all__ = ["IntakeReport", "intake_tick", "room_for"]
