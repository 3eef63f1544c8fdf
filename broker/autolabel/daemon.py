"""The auto-label tick: drives broker.autolabel's loop from the broker DB (issue 7).

An `auto_label:` job is submitted with every object HELD. Each tick, per such job:

1. nothing released yet: the loop picks the random first batch;
2. the released batch is finished (every released object consolidated or failed, every answer
   consolidated): the loop trains on the crowd's labels, machine-labels what clears the threshold,
   and picks the next batch of the least certain objects;
3. the loop is done (all labeled, budget, a stopping rule): objects still held fail with the reason.

The loop's state, its machine labels, the release of the next batch (HELD -> PENDING, with each
object's number of answers) and the failures are written in ONE transaction, before the publish
tick can see any of it; a crash before the commit repeats the step (the loop is deterministic
given its seed), a crash after it publishes exactly the released batch. Nothing is lost and no
object is ever published twice by this module.

The trained model of the latest iteration is written to the output tree:
`<output>/<job_name>/activelearning/model.joblib` (AutoLabelRun.model_uri).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broker.db import (AutoLabelRun, DataObject, Job, JobStatus, ObjectStatus, record_event, transaction,
                       utcnow)

log = logging.getLogger(__name__)

OPEN_STATUSES = (ObjectStatus.PENDING, ObjectStatus.PUBLISHED, ObjectStatus.ANSWERED)
MODEL_FILE = "model.joblib"
STOP_REASONS = {
    "max-human-labeled-objects": "Stopped: auto_label.max_human_labeled_objects was reached",
    "max-percentage-labeled": "Stopped: auto_label.max_percentage_labeled was reached",
    "initial-batch-failed": "Stopped: automated labeling failed, too much of its first random batch failed",
}

_FEATURES: dict[tuple[str, int, str], Any] = {}   # (DB url, job id, job name) -> feature matrix


@dataclass
class AutoLabelReport:
    jobs: int = 0
    iterations: int = 0
    released: int = 0
    machine_labeled: int = 0
    finished: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobCrowdResults:
    """What the crowd has returned so far, by object index."""

    human_labels: dict[int, tuple[int, float]]
    failed: list[int]


# --------------------------------------------------------------------------- small helpers

def job_seed(job: Job) -> int:
    """A fixed seed per job, so a repeated step (after a crash) picks the same batch."""
    created = job.created_at.isoformat() if job.created_at else ""
    return int(hashlib.sha256(f"{job.name}\x00{created}".encode()).hexdigest()[:8], 16)


def model_uri_for(spec: Any) -> str:
    """Where the job's latest model goes: Ground Truth's activelearning/ folder of the output tree."""
    from broker.storage import join_uri

    return join_uri(str(spec.output), spec.job_name, "activelearning", MODEL_FILE)


def failure_reason(reason: str) -> str:
    """Why an object never released to the crowd has no label."""
    from broker.output import REASON_BUDGET

    if reason == "budget-exhausted":
        return REASON_BUDGET
    return STOP_REASONS.get(reason, f"Stopped: automated labeling ended ({reason}) before this object was labeled")


def crowd_results(session: Session, job_id: int) -> JobCrowdResults:
    """Consolidated single labels {index: (label, confidence)} and failed indices of the job."""
    rows = session.exec(select(DataObject.index, DataObject.status, DataObject.label_json, DataObject.confidence_json)
                        .where(DataObject.job_id == job_id,
                               DataObject.status.in_([ObjectStatus.CONSOLIDATED, ObjectStatus.FAILED]))).all()
    labels: dict[int, tuple[int, float]] = {}
    failed: list[int] = []
    for index, status, label_json, confidence_json in rows:
        if status == ObjectStatus.CONSOLIDATED and label_json is not None:
            confidence = json.loads(confidence_json) if confidence_json else 0.0
            labels[int(index)] = (int(json.loads(label_json)), float(confidence or 0.0))
        elif status == ObjectStatus.FAILED:
            failed.append(int(index))
    return JobCrowdResults(labels, failed)


def batch_in_progress(session: Session, job: Job) -> bool:
    """Released objects still waiting for the crowd, or answers not consolidated yet."""
    open_objects = session.exec(select(func.count()).select_from(DataObject).where(
        DataObject.job_id == job.id, DataObject.status.in_(OPEN_STATUSES))).one()
    return open_objects > 0 or job.consolidated_version != job.answers_version


def budget_left_objects(session: Session, job: Job) -> int | None:
    """How many more objects (HITs of workers_per_object answers) the budget can pay for."""
    from broker.domain.money import hit_cost_cents
    from broker.status import job_money

    if job.budget_cents is None:
        return None
    money = job_money(session, job.id)
    left = job.budget_cents - money.spent_cents - money.committed_cents
    return max(0, left // hit_cost_cents(job.reward_cents, job.workers_per_object, job.masters))


def job_features(engine: Engine, settings: Any, job: Job, spec: Any) -> Any:
    """The job's feature matrix, computed once per daemon process (FeatureError names the line)."""
    from broker.autolabel.features import manifest_features

    key = (str(engine.url), int(job.id), job.name)
    if key not in _FEATURES:
        with Session(engine) as session:
            rows = session.exec(select(DataObject.data_json, DataObject.line_number)
                                .where(DataObject.job_id == job.id).order_by(DataObject.index)).all()
        _FEATURES[key] = manifest_features(spec.auto_label, [json.loads(data) for data, _ in rows], settings=settings,
                                           line_numbers=[line for _, line in rows])
    return _FEATURES[key]


def save_model(labeler: Any, spec: Any, settings: Any) -> str | None:
    """Write the latest model to the output tree (local folder or S3); its URI, or None if none."""
    from broker.storage import write_bytes

    if labeler.model_ is None:
        return None
    uri = model_uri_for(spec)
    with tempfile.TemporaryDirectory() as folder:
        path = labeler.save_model(Path(folder) / MODEL_FILE)
        write_bytes(uri, path.read_bytes(), settings, content_type="application/octet-stream")
    return uri


# --------------------------------------------------------------------------- the tick

def autolabel_tick(engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None) -> AutoLabelReport:
    """One step of every active auto_label job whose loop is not done."""
    report = AutoLabelReport()
    with Session(engine) as session:
        jobs = [job for job in session.exec(select(Job).where(Job.status == JobStatus.ACTIVE,
                                                             Job.completed_at == None))  # noqa: E711
                if job_ids is None or job.id in job_ids]
        runs = {run.job_id: run for run in session.exec(select(AutoLabelRun).where(
            AutoLabelRun.job_id.in_([job.id for job in jobs])))}
    for job in jobs:
        run = runs.get(job.id)
        state = json.loads(run.state_json) if run is not None else None
        if state is not None and state.get("done"):
            continue
        if state is None and '"auto_label": null' in job.spec_json:   # cheap: no spec parse for plain jobs
            continue
        try:
            step_job(engine, settings, job, state, report)
        except Exception as exc:  # one job's failure must not stop the others; retried next tick
            log.exception("auto-label: job %s", job.name)
            report.errors.append(f"job {job.name}: {exc}")
    return report


def step_job(engine: Engine, settings: Any, job: Job, state: dict | None, report: AutoLabelReport) -> None:
    """Start the loop, or finish an iteration once its batch is done; commit it with the next batch."""
    from broker.submit import job_spec

    spec = job_spec(job)
    config = spec.auto_label
    if config is None or not config.enabled:
        return
    # Only now: these pull in scikit-learn (~1.3 s of CPU), which jobs without auto_label never need.
    from broker.autolabel.features import FeatureError
    from broker.autolabel.loop import AutoLabeler
    report.jobs += 1
    with Session(engine) as session:
        if state is not None and batch_in_progress(session, job):
            return
        crowd = crowd_results(session, job.id)
    model_uri = None
    try:
        if state is None:
            labeler = AutoLabeler(config, job.n_objects, None, len(spec.labels), job_seed(job))
        else:
            labeler = AutoLabeler.from_state(state, job_features(engine, settings, job, spec))
            result = labeler.iterate(crowd.human_labels, failed=crowd.failed)
            report.iterations += 1
            report.machine_labeled += len(result.machine_labels)
            model_uri = save_model(labeler, spec, settings)
    except (ValueError, FeatureError) as exc:   # e.g. 1 object, an unreadable image: the crowd labels the rest
        release_all(engine, job, f"automated labeling turned off: {exc}")
        report.errors.append(f"job {job.name}: {exc}")
        return
    with Session(engine) as session:
        budget = budget_left_objects(session, job)
    batch = labeler.next_human_batch(crowd.human_labels, budget)
    if not batch and not labeler.done:   # defensive: nothing to ask and nothing open, so nothing will change
        labeler.done, labeler.reason = True, "no-batch"
    commit_step(engine, job, labeler, batch, model_uri)
    report.released += len(batch)
    if labeler.done:
        report.finished.append(job.name)


def commit_step(engine: Engine, job: Job, labeler: Any, batch: list[int], model_uri: str | None) -> None:
    """State + machine labels + released batch + failures of a finished loop: one transaction."""
    now = utcnow()
    with transaction(engine) as session:
        held = dict(session.exec(select(DataObject.index, DataObject.id).where(
            DataObject.job_id == job.id, DataObject.status == ObjectStatus.HELD)).all())
        run = session.get(AutoLabelRun, job.id) or AutoLabelRun(job_id=job.id, state_json="{}")
        run.state_json = json.dumps(labeler.state_dict())
        run.model_uri = model_uri or run.model_uri
        run.updated_at = now
        session.add(run)
        machine = [{"id": held[index], "status": ObjectStatus.MACHINE_LABELED, "label_json": json.dumps(value.label),
                    "confidence_json": json.dumps(round(value.confidence, 6)), "consolidated_at": now}
                   for index, value in labeler.machine.items() if index in held]
        released = [{"id": held[index], "status": ObjectStatus.PENDING,
                     "max_assignments": labeler.workers_for(index, job.workers_per_object)}
                    for index in batch if index in held]
        if machine:
            session.execute(update(DataObject), machine)
        if released:
            session.execute(update(DataObject), released)
        if labeler.done:
            session.execute(update(DataObject).where(DataObject.job_id == job.id,
                                                     DataObject.status == ObjectStatus.HELD)
                            .values(status=ObjectStatus.FAILED, failure_reason=failure_reason(labeler.reason)))
        if labeler.iterations:
            last = labeler.iterations[-1]
            record_event(session, job.id, "auto-label", iteration_message(last.summary()))
        record_event(session, job.id, "auto-label",
                     f"{len(released)} objects released to the crowd" if not labeler.done
                     else f"automated labeling done ({labeler.reason}); {len(labeler.machine)} objects machine-labeled")


def release_all(engine: Engine, job: Job, message: str) -> None:
    """Fall back to labeling every held object by the crowd (the loop cannot run for this job)."""
    with transaction(engine) as session:
        session.execute(update(DataObject).where(DataObject.job_id == job.id, DataObject.status == ObjectStatus.HELD)
                        .values(status=ObjectStatus.PENDING))
        run = session.get(AutoLabelRun, job.id) or AutoLabelRun(job_id=job.id, state_json="{}")
        state = json.loads(run.state_json)
        state.update(done=True, reason="turned-off", error=message)
        run.state_json = json.dumps(state)
        run.updated_at = utcnow()
        session.add(run)
        record_event(session, job.id, "auto-label", message)


def iteration_message(row: dict[str, Any]) -> str:
    accuracy = "-" if row["validation_accuracy"] is None else f"{row['validation_accuracy']:.3f}"
    threshold = "-" if row["threshold"] is None else f"{row['threshold']:.3f}"
    return (f"iteration {row['iteration']}: {row['human_count']} human, {row['machine_count']} machine "
            f"(+{row['new_machine_labels']}), validation accuracy {accuracy}, threshold {threshold}")


# --------------------------------------------------------------------------- reporting

def autolabel_summary(session: Session, job: Job) -> dict[str, Any] | None:
    """Per-iteration figures and money saved, for `broker status` and the job report (None: no auto_label)."""
    from broker.autolabel.report import cost_summary

    run = session.get(AutoLabelRun, job.id)
    if run is None:
        return None
    state = json.loads(run.state_json)
    if "iterations" not in state:   # turned off before its first step
        return {"done": True, "reason": state.get("reason", ""), "error": state.get("error"), "iterations": []}
    config = state["config"]
    requested = set(state["requested"])
    validation = requested & set(state["validation_ids"])
    counts = dict(session.exec(select(DataObject.status, func.count()).where(DataObject.job_id == job.id)
                               .group_by(DataObject.status)).all())
    cost = cost_summary(job.n_objects, len(requested), len(state["machine"]), job.reward_cents,
                        job.workers_per_object, job.masters, validation_objects=len(validation),
                        validation_workers_per_object=config.get("validation_workers_per_object"))
    iterations = []
    for item in state["iterations"]:
        row = {key: value for key, value in item.items() if key != "machine_labels"}
        row["new_machine_labels"] = len(item["machine_labels"])
        iterations.append(row)
    return {
        "done": bool(state["done"]), "reason": state["reason"],
        "human_objects": len(requested), "validation_objects": len(validation),
        "machine_labeled": counts.get(ObjectStatus.MACHINE_LABELED, 0),
        "held": counts.get(ObjectStatus.HELD, 0),
        "iterations": iterations, "cost": cost.to_dict(), "model_uri": run.model_uri,
    }


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) rows of an autolabel_summary for the CLI tables."""
    if "cost" not in summary:
        return [("auto-label", f"turned off: {summary.get('error') or summary.get('reason')}")]
    cost = summary["cost"]
    state = f"done ({summary['reason']})" if summary["done"] else "running"
    rows = [("auto-label", f"{state}: {summary['human_objects']} objects to the crowd "
                           f"({summary['validation_objects']} validation), {summary['machine_labeled']} machine-labeled, "
                           f"{summary['held']} held"),
            ("auto-label saving" + ("" if summary["done"] else " so far"),
             f"{cost['saved_fraction']:.1%} ({cost['saved_cents']} of {cost['all_human_cost_cents']} cents "
             f"all-human)")]
    for row in summary["iterations"]:
        rows.append((f"  iteration {row['iteration']}", iteration_message(row).split(": ", 1)[1]))
    if summary.get("model_uri"):
        rows.append(("auto-label model", summary["model_uri"]))
    return rows
