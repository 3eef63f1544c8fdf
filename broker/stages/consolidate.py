"""The consolidate stage: EM over every answer of a job, then each object's label and status.

Runs whenever new answers were stored since the last pass (Job.answers_version). The whole job
is re-fitted each time (Ground Truth's consolidation is per job, and worker accuracies improve
as answers arrive), so labels of finished objects may still move. A pass ends by recording the
answers version it saw (Job.consolidated_version); the output stage then rewrites the output tree.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from broker.consolidation import Consolidated, answer_arrays, consolidate_answers
from broker.domain.answers import stored_answer_content
from broker.domain.clock import utcnow
from broker.domain.lifecycle import ObjectStatus
from broker.hooks import (
    HookError,
    call_hook,
    consolidated_contents,
    load_hook_cached,
    pass_through,
    payload_entry,
    post_annotation_event,
)
from broker.output import REASON_NO_VALID_ANSWERS, OutputWriter, file_timestamp
from broker.storage import write_bytes, write_text
from broker.store import reading, record_event, transaction
from broker.store.answers import answers_for_consolidation, answers_of_answered_objects, object_data, verdict_arrays
from broker.store.claims import claim_jobs
from broker.store.engine import Engine
from broker.store.jobs import job_spec
from broker.store.labels import objects_to_consolidate, store_consolidation
from broker.store.tables import Job
from broker.store.workers import store_worker_accuracy
from broker.tasks.base import ConsolidationMethod
from broker.tasks.registry import task_type
from broker.verify.consolidate import consolidate_verdicts

log = logging.getLogger(__name__)

HOOK_FAILED_EVENT = "hook-failed"


@dataclass
class ConsolidateReport:
    jobs: int = 0
    objects_consolidated: int = 0
    objects_failed: int = 0
    errors: list[str] = field(default_factory=list)  # a custom job's hook failed: that job retries next pass


def consolidate_tick(
    engine: Engine,
    settings: Any = None,
    *,
    job_ids: list[int] | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> ConsolidateReport:
    report = ConsolidateReport()
    with reading(engine) as session:
        jobs = [
            job
            for job in claim_jobs(session, "consolidate", job_ids)
            if force or job.answers_version > job.consolidated_version
        ]
    for job in jobs:
        try:
            consolidate_job(engine, settings, job, report, now=now or utcnow())
        except HookError as error:  # the requester's code: reported, the other jobs go on
            log.warning("job %s: %s", job.name, error)
            report.errors.append(f"job {job.name}: {error}")
            with transaction(engine) as session:
                record_event(session, job.id, HOOK_FAILED_EVENT, str(error)[:2000])
            continue
        report.jobs += 1
    return report


def consolidate_verification(session: Any, job: Job) -> Consolidated | None:
    """A verification job's batch verdicts -> binary labels; None before any verdict."""
    arrays = verdict_arrays(session, job.id)
    if not arrays.objects.size:
        return None
    return consolidate_verdicts(arrays, job.n_objects, workers_per_object=job.workers_per_object)


def fit_job(engine: Engine, settings: Any, job: Job, now: datetime) -> tuple[Consolidated | None, dict[int, bytes]]:
    """The job's labels by its task type's consolidation method, and the files its labels point to."""
    task = task_type(job.task_type)
    method = task.consolidation
    with reading(engine) as session:
        if method == ConsolidationMethod.VERDICTS:
            return consolidate_verification(session, job), {}
        if method == ConsolidationMethod.HOOK:
            return consolidate_custom(session, job, settings, now), {}
        rows = answers_for_consolidation(session, job.id)
        needs_lines = task.annotation is not None and task.annotation.uses_data_objects
        extra = {"data_objects": object_data(session, job.id)} if rows and needs_lines else {}
    if not rows:
        return None, {}
    if method == ConsolidationMethod.ANNOTATIONS:
        shapes = task.annotation.consolidate(rows, job_spec(job), job.n_objects, **extra)
        return Consolidated(shapes.values, shapes.metadata, shapes.worker_accuracy), shapes.files
    return consolidate_answers(
        answer_arrays(rows),
        job.n_objects,
        len(job.labels),
        multilabel=task.multilabel,
        workers_per_object=job.workers_per_object,
    ), {}


def consolidate_job(engine: Engine, settings: Any, job: Job, report: ConsolidateReport, *, now: datetime) -> None:
    """One pass over one job: fit, then store labels and statuses."""
    version = job.answers_version
    # the objects answered before the answers are read: each has all its answers in the fit (collect
    # stores them and moves the object in one transaction). One answered meanwhile (collect runs on
    # its own thread) waits for the next pass instead of failing for want of answers.
    with reading(engine) as session:
        fitted = {row[0] for row in objects_to_consolidate(session, job.id)}
    result, files = fit_job(engine, settings, job, now)
    with transaction(engine) as session:
        newly: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        failed: list[tuple[int, str]] = []
        for object_id, index, status, old_label, old_confidence in objects_to_consolidate(session, job.id):
            if result is not None and index in result.labels:
                confidence = result.confidences[index]
                label_json = json.dumps(result.labels[index])
                confidence_json = json.dumps(
                    {str(k): v for k, v in confidence.items()}  # JSON keys: str anyway
                    if isinstance(confidence, dict)
                    else confidence
                )
                values = {"id": object_id, "label_json": label_json, "confidence_json": confidence_json}
                if index in files and label_json != old_label:  # a mask's PNG, stored before its URI is
                    write_bytes(result.labels[index], files[index], settings, content_type="image/png")
                if status != ObjectStatus.CONSOLIDATED:
                    newly.append(values)
                    report.objects_consolidated += 1
                elif label_json != old_label or confidence_json != old_confidence:
                    moved.append(values)
            elif status == ObjectStatus.ANSWERED and object_id in fitted:
                reason = result.failure_reasons.get(index) if result is not None else None
                failed.append((object_id, reason or REASON_NO_VALID_ANSWERS))
                report.objects_failed += 1
        store_consolidation(session, job.id, newly=newly, moved=moved, failed=failed, version=version, now=now)
        if result is not None:
            store_worker_accuracy(session, result.worker_accuracy)


def consolidate_custom(session: Any, job: Job, settings: Any, now: datetime) -> Consolidated:
    """A custom job's finished objects (every answer in) through its post-annotation hook, once each:
    the payload file is written under annotations/consolidation-request/, the hook's content for
    each object becomes its label. A hook that raises or answers outside the contract raises
    HookError: nothing is stored, the objects stay answered and the next pass calls it again."""
    spec = job_spec(job)
    finished = object_data(session, job.id, [ObjectStatus.ANSWERED])
    answers: dict[int, list[tuple[str, Any]]] = {}
    for index, worker, answer_json in answers_of_answered_objects(session, job.id):
        answers.setdefault(index, []).append((worker, stored_answer_content(answer_json)))
    entries = [payload_entry(index, finished[index], answers[index]) for index in sorted(answers)]
    attribute = spec.label_attribute_name
    if not entries:  # finished, but every answer was rejected or unreadable
        return Consolidated({}, {}, {})
    reference = spec.hooks.post_annotation if spec.hooks is not None else None
    if reference is None:
        response, where = pass_through(entries, attribute), "pass-through"
    else:
        uri = OutputWriter(spec, settings).uri("annotations", "consolidation-request", f"{file_timestamp(now)}.json")
        write_text(uri, json.dumps(entries, ensure_ascii=False), settings, content_type="application/json")
        event = post_annotation_event(spec.job_name, list(spec.labels), attribute, uri)
        response, where = call_hook(load_hook_cached(reference), reference, event), reference
    contents = consolidated_contents(response, where, attribute, {int(e["datasetObjectId"]) for e in entries})
    missing = "The post-annotation hook returned no consolidated annotation for it"
    return Consolidated(
        contents, dict.fromkeys(contents), {}, {index: missing for index in finished if index not in contents}
    )


__all__ = ["ConsolidateReport", "consolidate_job", "consolidate_tick"]
