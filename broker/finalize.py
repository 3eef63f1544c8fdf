"""The output tree (written by the consolidate tick as objects complete) and the finalize tick.

A job is Completed once every object is consolidated or failed (with its reason), every answer
has been consolidated and reviewed, and the final output.manifest has been written.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broker.annotations import kind_for
from broker.gold import without_gold
from broker.domain.answers import stored_answer_content
from broker.db import (Assignment, DataObject, Hit, HitStatus, Job, JobStatus, ObjectStatus, ReviewStatus,
                       record_event, transaction, utcnow)
from broker.storage import sync_local_writes
from broker.verify.answers import item_answer
from broker.verify.batching import is_verification, item_ids

log = logging.getLogger(__name__)


@dataclass
class FinalizeReport:
    completed: list[str]


def outcomes_for(objects: list[tuple[int, str, str | None, str | None, str | None]], multilabel: bool,
                 shapes: bool = False) -> dict:
    """(index, status, label JSON, confidence JSON, failure reason) rows -> broker.output outcomes.

    `shapes` (boxes, masks, spans, custom content): the label is Ground Truth's value and the
    "confidence" its metadata keys."""
    from broker.output import FailedObject, ObjectResult

    outcomes: dict[int, Any] = {}
    for index, status, label_json, confidence_json, reason in objects:
        if shapes and status == ObjectStatus.CONSOLIDATED and label_json is not None:
            outcomes[index] = ObjectResult(content=json.loads(label_json), metadata=json.loads(confidence_json or "{}"))
        elif status == ObjectStatus.CONSOLIDATED and label_json is not None:
            label = json.loads(label_json)
            confidence = json.loads(confidence_json) if confidence_json else None
            if multilabel:
                confidence_map = {int(k): float(v) for k, v in (confidence or {}).items()}
                outcomes[index] = ObjectResult(labels=list(label), confidence_map=confidence_map)
            else:
                outcomes[index] = ObjectResult(label=int(label), confidence=confidence)
        elif status == ObjectStatus.MACHINE_LABELED and label_json is not None:   # issue 7: auto_label
            confidence = json.loads(confidence_json) if confidence_json else None
            outcomes[index] = ObjectResult(label=int(json.loads(label_json)), confidence=confidence,
                                           human_annotated=False)
        elif status == ObjectStatus.FAILED:
            outcomes[index] = FailedObject(reason=reason or "failed")
    return outcomes


def write_outputs(engine: Engine, settings: Any, job_id: int, *, now: datetime | None = None) -> str:
    """Rewrite output.manifest + failed.manifest; write worker responses of newly finished objects."""
    from broker.output import OutputWriter, consolidation_entry, output_line, worker_answer
    from broker.submit import job_spec

    now = now or utcnow()
    with Session(engine) as session:
        job = session.get(Job, job_id)
        spec = job_spec(job)
        objects = session.exec(select(DataObject.index, DataObject.status, DataObject.label_json,
                                      DataObject.confidence_json, DataObject.failure_reason, DataObject.data_json)
                               .where(DataObject.job_id == job_id).order_by(DataObject.index)).all()
        unwritten = session.exec(   # plain columns: no ORM instance per answer
            select(Assignment.id, Assignment.hit_row_id, Assignment.answer_json, Assignment.worker_id,
                   Assignment.accept_time, Assignment.submit_time, DataObject.index.label("object_index"))
            .join(DataObject, Assignment.object_id == DataObject.id)
            .where(Assignment.job_id == job_id, Assignment.written == False,  # noqa: E712
                   DataObject.status.in_([ObjectStatus.CONSOLIDATED, ObjectStatus.FAILED]))
            .order_by(Assignment.id)).all()
        batches = item_ids(session, list({a.hit_row_id for a in unwritten})) if is_verification(job) else {}
    outcomes = outcomes_for([row[:5] for row in objects], spec.is_multilabel,
                            kind_for(spec.task_type) is not None or spec.task_type == "custom")
    input_lines = [json.loads(row[5]) for row in objects]
    writer = OutputWriter(spec, settings)

    manifest_uri, _ = writer.write_outputs(*without_gold(spec, input_lines, outcomes), now)

    written_ids: list[int] = []
    iteration = job.iteration
    if unwritten:
        iteration += 1
        by_object: dict[int, list[tuple[Any, Any]]] = defaultdict(list)
        for assignment in unwritten:    # a verification batch's answer: one share per object
            content = stored_answer_content(assignment.answer_json)
            for item in batches.get(assignment.hit_row_id, []):
                by_object[int(item)].append((assignment, item_answer(content, item)))
            if assignment.hit_row_id not in batches:
                by_object[assignment.object_index].append((assignment, content))
        entries = []
        for index, shares in by_object.items():
            answers = [worker_answer(a.worker_id, a.accept_time or a.submit_time or now, a.submit_time or now,
                                     content) for a, content in shares]
            writer.write_worker_response(iteration, str(index), answers, now, durable=False)
            outcome = outcomes.get(index)
            if outcome is not None and hasattr(outcome, "human_annotated"):
                entries.append(consolidation_entry(spec, str(index), output_line(spec, input_lines[index], outcome, now)))
        written_ids = [assignment.id for assignment in unwritten]
        if entries:
            writer.write_consolidation_response(iteration, entries, now)
        sync_local_writes()   # the worker responses are on disk before the DB says they are written
    with transaction(engine) as session:
        row = session.get(Job, job_id)
        row.output_manifest = manifest_uri
        row.iteration = iteration
        session.add(row)
        if written_ids:
            for start in range(0, len(written_ids), 500):
                session.execute(update(Assignment).where(Assignment.id.in_(written_ids[start:start + 500]))
                                .values(written=True))
    return manifest_uri


def job_is_finished(session: Session, job: Job) -> bool:
    """Nothing left to publish, collect, consolidate or review."""
    unfinished = session.exec(select(func.count()).select_from(DataObject).where(
        DataObject.job_id == job.id,
        DataObject.status.in_([ObjectStatus.HELD, ObjectStatus.PENDING, ObjectStatus.PUBLISHED,
                               ObjectStatus.ANSWERED]))).one()
    open_hits = session.exec(select(func.count()).select_from(Hit).where(
        Hit.job_id == job.id, Hit.status.in_([HitStatus.CREATING, HitStatus.OPEN]))).one()
    unreviewed = session.exec(select(func.count()).select_from(Assignment).where(
        Assignment.job_id == job.id, Assignment.review_status == ReviewStatus.PENDING)).one()
    return unfinished == 0 and open_hits == 0 and unreviewed == 0 \
        and job.consolidated_version == job.answers_version


def finalize_tick(engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None,
                  now: datetime | None = None) -> FinalizeReport:
    report = FinalizeReport(completed=[])
    with Session(engine) as session:
        jobs = session.exec(select(Job).where(Job.status.in_([JobStatus.ACTIVE, JobStatus.CANCELLED]),
                                              Job.completed_at == None)).all()  # noqa: E711
        ready = [job for job in jobs if (job_ids is None or job.id in job_ids) and job_is_finished(session, job)]
    for job in ready:
        now_ = now or utcnow()
        manifest = write_outputs(engine, settings, job.id, now=now_)
        with transaction(engine) as session:
            row = session.get(Job, job.id)
            if row.status == JobStatus.ACTIVE:
                row.status = JobStatus.COMPLETED
            row.completed_at = now_
            session.add(row)
            record_event(session, job.id, "completed", f"output manifest {manifest}")
        report.completed.append(job.name)
    return report


def active_jobs_remaining(engine: Engine) -> int:
    """Jobs the daemon still has work for (active, or cancelled and not yet finalized)."""
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Job).where(
            Job.status.in_([JobStatus.ACTIVE, JobStatus.CANCELLED]), Job.completed_at == None)).one())  # noqa: E711


def cancel_job(engine: Engine, settings: Any, job_id: int, *, now: datetime | None = None) -> dict[str, int]:
    """Expire every open HIT, keep what was answered, fail the rest as stopped.

    The answers already submitted are collected at once (they are still reviewed, paid and
    consolidated by the next ticks); objects without any answer are failed with REASON_STOPPED.
    """
    from datetime import datetime as _dt, timezone

    from broker import mturk
    from broker.collect import CollectReport, collect_hits
    from broker.output import REASON_STOPPED
    from broker.submit import job_spec

    with transaction(engine) as session:
        job = session.get(Job, job_id)
        if job.status == JobStatus.COMPLETED:
            raise ValueError(f"job {job.name} is already completed")
        job.status = JobStatus.CANCELLED
        session.add(job)
        pending = session.exec(select(DataObject).where(
            DataObject.job_id == job_id, DataObject.status.in_([ObjectStatus.PENDING, ObjectStatus.HELD]))).all()
        for obj in pending:
            obj.status = ObjectStatus.FAILED
            obj.failure_reason = REASON_STOPPED
            session.add(obj)
        record_event(session, job_id, "cancelled", f"{len(pending)} unpublished objects stopped")
    client = mturk.client_for(mturk.resolve_target(job.marketplace, settings))
    # finish rows a crash left in "creating" first, so no HIT escapes the cancel
    from broker.publish import PublishReport, _finish_creating, grant_read_access_for

    spec = job_spec(job)
    if job.hit_type_id:
        _finish_creating(engine, client, job, spec,
                         grant_read_access_for(mturk.resolve_target(job.marketplace, settings), settings),
                         PublishReport())
    with Session(engine) as session:
        open_ids = list(session.exec(select(Hit.hit_id).where(Hit.job_id == job_id, Hit.status == HitStatus.OPEN)))
    past = _dt(2000, 1, 1, tzinfo=timezone.utc)
    for hit_id in open_ids:
        client.update_expiration_for_hit(HITId=hit_id, ExpireAt=past)
    report = CollectReport()
    for start in range(0, len(open_ids), 100):
        collect_hits(engine, client, job, spec, [{"HITId": h} for h in open_ids[start:start + 100]], 0, report,
                     now, zero_answer_reason=REASON_STOPPED)
    return {"hits_expired": len(open_ids), "assignments_kept": report.assignments_stored,
            "objects_stopped": len(pending) + report.objects_failed}


def manifest_csv(manifest_text: str, spec: Any) -> str:
    """`broker export --csv`: object,label,confidence per labeled line (multi-label joined by ';')."""
    import csv
    import io

    attribute = spec.label_attribute_name
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["object", "label", "confidence"])
    for line_text in manifest_text.splitlines():
        if not line_text.strip():
            continue
        line = json.loads(line_text)
        source = line.get("source-ref", line.get("source", ""))
        metadata = line.get(f"{attribute}-metadata") or {}
        if attribute not in line:
            writer.writerow([source, "", ""])
        elif "internal-color-map" in metadata:   # segmentation: the mask's URI, one confidence per image
            confidence = next(iter(metadata["internal-color-map"].values()), {}).get("confidence", "")
            writer.writerow([source, line[attribute], confidence])
        elif "class-map" in metadata:
            names = [metadata["class-map"][str(i)] for i in line[attribute]]
            confidences = [str(metadata.get("confidence-map", {}).get(str(i), "")) for i in line[attribute]]
            writer.writerow([source, ";".join(names), ";".join(confidences)])
        else:
            writer.writerow([source, metadata.get("class-name", line[attribute]), metadata.get("confidence", "")])
    return out.getvalue()
