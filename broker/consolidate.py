"""The consolidate tick: EM over every answer of a job, then Ground Truth's output tree.

Runs whenever new answers were stored since the last pass (Job.answers_version). The whole job
is re-fitted each time (Ground Truth's consolidation is per job, and worker accuracies improve
as answers arrive), so labels of finished objects may still move; the output manifest is
rewritten with them. Worker responses are written once per finished object.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broker.annotations import kind_for
from broker.domain.answers import stored_answer_content
from broker.db import (Assignment, DataObject, Job, JobStatus, ObjectStatus, ReviewStatus, Worker, record_event,
                       transaction, utcnow)
from broker.storage import write_bytes
from broker.verify.consolidate import consolidate_job_verdicts

log = logging.getLogger(__name__)

MULTILABEL_TYPES = frozenset({"image-classification-multilabel", "text-classification-multilabel"})


@dataclass
class ConsolidateReport:
    jobs: int = 0
    objects_consolidated: int = 0
    objects_failed: int = 0
    errors: list[str] = field(default_factory=list)   # a custom job's hook failed: that job retries next pass


@dataclass(frozen=True)
class AnswerArrays:
    """A job's usable answers as integer codes (one row per answer)."""

    items: np.ndarray          # object index (datasetObjectId)
    workers: np.ndarray        # worker code
    chosen: list[list[int]]    # class indices per answer
    worker_ids: list[str]      # code -> WorkerId


@dataclass(frozen=True)
class Consolidated:
    """Per object index: label (int, list[int], or a box/span task's Ground Truth value) and
    confidence (float, {class: float}, or that task's metadata keys such as `objects`)."""

    labels: dict[int, Any]
    confidences: dict[int, Any]
    worker_accuracy: dict[str, float]
    failure_reasons: dict[int, str] = field(default_factory=dict)   # objects that fail with their own reason


def answer_arrays(rows: list[tuple[int, str, str]]) -> AnswerArrays:
    """(object index, WorkerId, chosen JSON) rows -> integer arrays."""
    worker_codes: dict[str, int] = {}
    items = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    workers = np.fromiter((worker_codes.setdefault(row[1], len(worker_codes)) for row in rows),
                          dtype=np.int64, count=len(rows))
    chosen = [json.loads(row[2]) for row in rows]
    return AnswerArrays(items, workers, chosen, list(worker_codes))


def consolidate_answers(arrays: AnswerArrays, n_items: int, n_classes: int, *, multilabel: bool,
                        workers_per_object: int, method: str = "default") -> Consolidated:
    """Fit scoring's estimator (or MultiLabel) over all answers; only answered items are returned."""
    import scoring

    answered = np.unique(arrays.items)
    n_workers = len(arrays.worker_ids)
    if multilabel:
        matrix = np.zeros((len(arrays.chosen), n_classes), dtype=bool)
        rows = np.repeat(np.arange(len(arrays.chosen)), [len(c) for c in arrays.chosen])
        cols = np.fromiter((c for chosen in arrays.chosen for c in chosen), dtype=np.int64, count=rows.size)
        matrix[rows, cols] = True
        model = scoring.MultiLabel().fit(arrays.items, arrays.workers, matrix, n_classes=n_classes,
                                         n_items=n_items, n_workers=n_workers)
        labels = {int(i): [int(c) for c in model.labels_[i]] for i in answered}
        confidences = {int(i): {int(c): float(v) for c, v in model.confidence_map_[i].items()} for i in answered}
        accuracy = getattr(model, "worker_accuracy_", None)
    else:
        single = np.fromiter((c[0] for c in arrays.chosen), dtype=np.int64, count=len(arrays.chosen))
        model = scoring.estimator(method)
        model.fit(arrays.items, arrays.workers, single, n_classes=n_classes, n_items=n_items, n_workers=n_workers)
        labels = {int(i): int(model.labels_[i]) for i in answered}
        confidences = {int(i): float(model.confidence_[i]) for i in answered}
        accuracy = model.worker_accuracy_
    if workers_per_object == 1:   # Ground Truth: confidence is 0.00 with one worker per object
        confidences = {i: ({c: 0.0 for c in v} if isinstance(v, dict) else 0.0) for i, v in confidences.items()}
    worker_accuracy = ({arrays.worker_ids[w]: float(accuracy[w]) for w in range(n_workers)}
                       if accuracy is not None else {})
    return Consolidated(labels, confidences, worker_accuracy)


def job_answer_rows(session: Session, job_id: int) -> list[tuple[int, str, str]]:
    """Usable answers: labelled, not rejected, not by a worker a quality rule excluded."""
    from broker.quality import drop_excluded  # issue 6 hook: excluded workers' answers drop out

    return drop_excluded(session, job_id, list(session.exec(
        select(DataObject.index, Assignment.worker_id, Assignment.chosen_json)
        .join(DataObject, Assignment.object_id == DataObject.id)
        .where(Assignment.job_id == job_id, Assignment.chosen_json != None,  # noqa: E711
               Assignment.review_status != ReviewStatus.REJECTED)
        .order_by(Assignment.id)
    ).all()))


def consolidate_tick(engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None,
                     force: bool = False, now: datetime | None = None) -> ConsolidateReport:
    report = ConsolidateReport()
    with Session(engine) as session:
        jobs = [job for job in session.exec(select(Job).where(Job.status.in_([JobStatus.ACTIVE, JobStatus.CANCELLED]),
                                                             Job.completed_at == None))  # noqa: E711
                if (job_ids is None or job.id in job_ids) and (force or job.answers_version > job.consolidated_version)]
    from broker.hooks import HookError

    for job in jobs:
        try:
            consolidate_job(engine, settings, job, report, now=now or utcnow())
        except HookError as error:   # the requester's code: reported, the other jobs go on
            log.warning("job %s: %s", job.name, error)
            report.errors.append(f"job {job.name}: {error}")
            with transaction(engine) as session:
                record_event(session, job.id, "hook-failed", str(error)[:2000])
            continue
        report.jobs += 1
    return report


def consolidate_job(engine: Engine, settings: Any, job: Job, report: ConsolidateReport, *, now: datetime) -> None:
    """One pass over one job: fit, store labels, write the output tree."""
    from broker import finalize
    from broker.output import REASON_NO_VALID_ANSWERS

    version = job.answers_version
    verification = job.task_type == "label-verification"   # batch verdicts: broker.verify
    custom = job.task_type == "custom"        # the post-annotation hook, or pass-through (broker.hooks)
    with Session(engine) as session:
        rows = [] if verification or custom else job_answer_rows(session, job.id)
        result = consolidate_job_verdicts(session, job) if verification else None
        if custom:
            result = consolidate_custom(session, job, settings, now)
    kind = kind_for(job.task_type)
    files: dict[int, bytes] = {}
    if rows and kind is not None:   # boxes, masks, spans: broker.annotations
        from broker.submit import job_spec

        extra = {}
        if kind.uses_data_objects:
            with Session(engine) as session:
                extra["data_objects"] = {index: json.loads(data) for index, data in session.exec(
                    select(DataObject.index, DataObject.data_json).where(DataObject.job_id == job.id))}
        shapes = kind.consolidate(rows, job_spec(job), job.n_objects, **extra)
        result = Consolidated(shapes.values, shapes.metadata, shapes.worker_accuracy)
        files = shapes.files
    elif rows:
        result = consolidate_answers(answer_arrays(rows), job.n_objects, len(job.labels),
                                     multilabel=job.task_type in MULTILABEL_TYPES,
                                     workers_per_object=job.workers_per_object)
    with transaction(engine) as session:
        objects = session.exec(select(DataObject.id, DataObject.index, DataObject.status, DataObject.label_json,
                                      DataObject.confidence_json).where(
            DataObject.job_id == job.id,
            DataObject.status.in_([ObjectStatus.ANSWERED, ObjectStatus.CONSOLIDATED]))).all()
        # plain rows and bulk UPDATEs of the rows that change: a pass over a 10,000-object job
        # would otherwise load and diff 10,000 ORM objects
        newly: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for object_id, index, status, old_label, old_confidence in objects:
            if result is not None and index in result.labels:
                confidence = result.confidences[index]
                label_json = json.dumps(result.labels[index])
                confidence_json = json.dumps({str(k): v for k, v in confidence.items()}   # JSON keys: str anyway
                                             if isinstance(confidence, dict) else confidence)
                values = {"id": object_id, "label_json": label_json, "confidence_json": confidence_json}
                if index in files and label_json != old_label:   # a mask's PNG, stored before its URI is
                    write_bytes(result.labels[index], files[index], settings, content_type="image/png")
                if status != ObjectStatus.CONSOLIDATED:
                    newly.append(values | {"status": ObjectStatus.CONSOLIDATED, "consolidated_at": now})
                    report.objects_consolidated += 1
                elif label_json != old_label or confidence_json != old_confidence:
                    moved.append(values)
            elif status == ObjectStatus.ANSWERED:
                reason = result.failure_reasons.get(index) if result is not None else None
                failed.append({"id": object_id, "status": ObjectStatus.FAILED,
                               "failure_reason": reason or REASON_NO_VALID_ANSWERS})
                report.objects_failed += 1
        for rows in (newly, moved, failed):
            if rows:
                session.execute(update(DataObject), rows)
        if result is not None:
            _store_worker_accuracy(session, result.worker_accuracy)
        row = session.get(Job, job.id)
        row.consolidated_version = version
        session.add(row)
    finalize.write_outputs(engine, settings, job.id, now=now)


def consolidate_custom(session: Session, job: Job, settings: Any, now: datetime) -> Consolidated:
    """A custom job's finished objects (every answer in) through its post-annotation hook, once each:
    the payload file is written under annotations/consolidation-request/, the hook's content for
    each object becomes its label. A hook that raises or answers outside the contract raises
    HookError: nothing is stored, the objects stay answered and the next pass calls it again."""
    from broker.hooks import (call_hook, consolidated_contents, load_hook_cached, pass_through,
                              payload_entry, post_annotation_event)
    from broker.output import OutputWriter, file_timestamp
    from broker.storage import write_text
    from broker.submit import job_spec

    spec = job_spec(job)
    finished = {index: json.loads(data) for index, data in session.exec(
        select(DataObject.index, DataObject.data_json)
        .where(DataObject.job_id == job.id, DataObject.status == ObjectStatus.ANSWERED))}
    answers: dict[int, list[tuple[str, Any]]] = {}
    for index, worker, answer_json in session.exec(
            select(DataObject.index, Assignment.worker_id, Assignment.answer_json)
            .join(DataObject, Assignment.object_id == DataObject.id)
            .where(Assignment.job_id == job.id, DataObject.status == ObjectStatus.ANSWERED,
                   Assignment.answer_json != None, Assignment.review_status != ReviewStatus.REJECTED)  # noqa: E711
            .order_by(Assignment.id)):
        answers.setdefault(index, []).append((worker, stored_answer_content(answer_json)))
    entries = [payload_entry(index, finished[index], answers[index]) for index in sorted(answers)]
    attribute = spec.label_attribute_name
    if not entries:   # finished, but every answer was rejected or unreadable
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
    return Consolidated(contents, dict.fromkeys(contents), {},
                        {index: missing for index in finished if index not in contents})


def _store_worker_accuracy(session: Session, accuracy: dict[str, float]) -> None:
    if not accuracy:
        return
    existing = {w.worker_id: w for w in session.exec(select(Worker).where(Worker.worker_id.in_(list(accuracy))))}
    for worker_id, value in accuracy.items():
        worker = existing.get(worker_id) or Worker(worker_id=worker_id)
        worker.em_accuracy = value
        session.add(worker)


def majority_labels(rows: list[tuple[int, str, str]], n_items: int, n_classes: int) -> np.ndarray:
    """Majority vote over single-label answers (for comparisons such as `broker demo`)."""
    import scoring

    arrays = answer_arrays(rows)
    single = np.fromiter((c[0] for c in arrays.chosen), dtype=np.int64, count=len(arrays.chosen))
    model = scoring.estimator("majority")
    model.fit(arrays.items, arrays.workers, single, n_classes=n_classes, n_items=n_items,
              n_workers=len(arrays.worker_ids))
    return model.labels_


__all__ = ["consolidate_tick", "consolidate_answers", "answer_arrays", "majority_labels"]
