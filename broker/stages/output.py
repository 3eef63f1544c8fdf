"""The output stage: Ground Truth's output tree, rewritten when an object's outcome changed.

Every consolidation pass and every object that reaches an outcome (failed, machine-labeled)
bumps Job.outcomes_version; the tree is written when it is behind (Job.output_version), and
once for a finished job that never had one (every object carried over). output.manifest and
failed.manifest are rewritten whole; worker responses are written once per finished object.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from broker import queues
from broker.domain.answers import stored_answer_content
from broker.domain.clock import utcnow
from broker.gold import without_gold
from broker.output import (
    OutputWriter,
    build_output_manifest,
    consolidation_entry,
    outcomes_for,
    output_line,
    worker_answer,
)
from broker.storage import sync_local_writes
from broker.store import reading, transaction
from broker.store.answers import batch_item_ids
from broker.store.claims import claim_jobs
from broker.store.engine import Engine
from broker.store.jobs import job_spec
from broker.store.outputs import object_outcomes, record_output_written, unwritten_answers
from broker.store.progress import job_has_work_left
from broker.store.streams import SENT, mark, marked
from broker.store.tables import Job
from broker.tasks.base import ConsolidationMethod
from broker.verify.answers import item_answer
from broker.verify.batching import is_verification

log = logging.getLogger(__name__)


@dataclass
class OutputReport:
    written: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def output_due(job: Job, finished: bool) -> bool:
    """The tree is behind the objects' outcomes, or a finished job has none yet."""
    return job.outcomes_version > job.output_version or (finished and job.output_manifest is None)


def output_tick(
    engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None, now: datetime | None = None
) -> OutputReport:
    report = OutputReport()
    with reading(engine) as session:
        jobs = [
            job
            for job in claim_jobs(session, "output", job_ids)
            if output_due(job, not job_has_work_left(session, job))
        ]
    for job in jobs:
        try:
            write_outputs(engine, settings, job.id, now=now or utcnow())
        except queues.QueueError as exc:  # not recorded as written: the tick tries again
            report.errors.append(f"job {job.name}: output_queue: {exc}")
            continue
        report.written.append(job.name)
    return report


def write_outputs(engine: Engine, settings: Any, job_id: int, *, now: datetime | None = None) -> str:
    """Rewrite output.manifest + failed.manifest; write worker responses of newly finished objects."""
    now = now or utcnow()
    with reading(engine) as session:
        job = session.get(Job, job_id)
        version = job.outcomes_version
        spec = job_spec(job)
        objects = object_outcomes(session, job_id)
        unwritten = unwritten_answers(session, job_id)
        batches = batch_item_ids(session, {a.hit_row_id for a in unwritten}) if is_verification(job) else {}
    structured = spec.task.consolidation in (ConsolidationMethod.ANNOTATIONS, ConsolidationMethod.HOOK)
    outcomes = outcomes_for([row[:5] for row in objects], spec.is_multilabel, structured)
    input_lines = [json.loads(row[5]) for row in objects]
    writer = OutputWriter(spec, settings)

    if spec.streaming:  # a streaming job's manifest holds the objects finished so far, in object order
        finished = sorted(outcomes)
        manifest_uri, _ = writer.write_outputs(
            [input_lines[i] for i in finished], {n: outcomes[i] for n, i in enumerate(finished)}, now
        )
    else:
        manifest_uri, _ = writer.write_outputs(*without_gold(spec, input_lines, outcomes), now)

    written_ids: list[int] = []
    iteration = job.iteration
    if unwritten:
        iteration += 1
        by_object: dict[int, list[tuple[Any, Any]]] = defaultdict(list)
        for assignment in unwritten:  # a verification batch's answer: one share per object
            content = stored_answer_content(assignment.answer_json)
            for item in batches.get(assignment.hit_row_id, []):
                by_object[int(item)].append((assignment, item_answer(content, item)))
            if assignment.hit_row_id not in batches:
                by_object[assignment.object_index].append((assignment, content))
        entries = []
        for index, shares in by_object.items():
            answers = [
                worker_answer(a.worker_id, a.accept_time or a.submit_time or now, a.submit_time or now, content)
                for a, content in shares
            ]
            writer.write_worker_response(iteration, str(index), answers, now, durable=False)
            outcome = outcomes.get(index)
            if outcome is not None and hasattr(outcome, "human_annotated"):
                line = output_line(spec, input_lines[index], outcome, now)
                entries.append(consolidation_entry(spec, str(index), line))
        written_ids = [assignment.id for assignment in unwritten]
        if entries:
            writer.write_consolidation_response(iteration, entries, now)
        sync_local_writes()  # the worker responses are on disk before the DB says they are written
    if spec.streaming and spec.output_queue:  # a failed send leaves the output due: retried next tick
        send_outputs(engine, settings, job_id, spec, input_lines, outcomes, now)
    with transaction(engine) as session:
        record_output_written(
            session, job_id, manifest_uri=manifest_uri, iteration=iteration, version=version, written_ids=written_ids
        )
    return manifest_uri


def send_outputs(
    engine: Engine,
    settings: Any,
    job_id: int,
    spec: Any,
    input_lines: list[dict],
    outcomes: dict[int, Any],
    now: datetime,
) -> int:
    """Each finished object's output line, once, as a message to the output queue (Ground Truth's
    streaming output: the object's line of the output manifest). Marked sent after the send, so a
    crash in between sends it again: consumers deduplicate by the line's deduplication id."""
    with reading(engine) as session:
        sent = marked(session, job_id, SENT, [str(i) for i in outcomes])
    due = [i for i in sorted(outcomes) if str(i) not in sent]
    if not due:
        return 0
    bodies = [
        json.dumps(build_output_manifest(spec, [input_lines[i]], {0: outcomes[i]}, now)[0][0], ensure_ascii=False)
        for i in due
    ]
    queues.send(spec.output_queue, bodies, settings)
    with transaction(engine) as session:
        mark(session, job_id, SENT, [str(i) for i in due])
    return len(due)


__all__ = ["OutputReport", "output_tick", "write_outputs"]
