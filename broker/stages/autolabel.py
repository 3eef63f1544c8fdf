"""The auto-label stage: drives broker.autolabel's loop from the broker DB.

An `auto_label:` job is submitted with every object HELD. Each tick, per such job:

1. nothing released yet: the loop picks the random first batch;
2. the released batch is finished (every released object consolidated or failed, every answer
   consolidated): the loop trains on the crowd's labels, machine-labels what clears the threshold,
   and picks the next batch of the least certain objects;
3. the loop is done (all labeled, budget, a stopping rule): objects still held fail with the reason.

The loop's state, its machine labels, the release of the next batch (HELD -> PENDING, with each
object's number of answers) and the failures are written in ONE transaction, before the publish
stage can see any of it; a crash before the commit repeats the step (the loop is deterministic
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

from broker.autolabel.report import iteration_message
from broker.domain.clock import utcnow
from broker.domain.lifecycle import ObjectStatus
from broker.domain.money import hit_cost_cents
from broker.output import REASON_BUDGET
from broker.storage import join_uri, write_bytes
from broker.store import reading, transaction
from broker.store.autolabel import (
    ask_again,
    autolabel_runs,
    fail_held,
    finished_crowd_objects,
    held_object_ids,
    machine_label,
    manifest_lines,
    objects_with_crowd_count,
    record_autolabel_event,
    release_all_held,
    release_to_crowd,
    run_state,
    save_run_state,
)
from broker.store.claims import claim_jobs
from broker.store.engine import Engine
from broker.store.jobs import job_money, job_spec
from broker.store.tables import Job

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
STOP_REASONS = {
    "max-human-labeled-objects": "Stopped: auto_label.max_human_labeled_objects was reached",
    "max-percentage-labeled": "Stopped: auto_label.max_percentage_labeled was reached",
    "initial-batch-failed": "Stopped: automated labeling failed, too much of its first random batch failed",
}

_FEATURES: dict[tuple[str, int, str], Any] = {}  # (DB url, job id, job name) -> feature matrix


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
    """A fixed seed per job, so a repeated step (after a crash) picks the same batch, and the same job
    run again (the demo, a benchmark's crowd) picks the same batches: no clock reading goes into it."""
    return int(hashlib.sha256(f"{job.name}\x00{job.id}".encode()).hexdigest()[:8], 16)


def model_uri_for(spec: Any) -> str:
    """Where the job's latest model goes: Ground Truth's activelearning/ folder of the output tree."""
    return join_uri(str(spec.output), spec.job_name, "activelearning", MODEL_FILE)


def failure_reason(reason: str) -> str:
    """Why an object never released to the crowd has no label."""
    if reason == "budget-exhausted":
        return REASON_BUDGET
    return STOP_REASONS.get(reason, f"Stopped: automated labeling ended ({reason}) before this object was labeled")


def crowd_results(session: Any, job_id: int) -> JobCrowdResults:
    """Consolidated single labels {index: (label, confidence)} and failed indices of the job."""
    labels: dict[int, tuple[int, float]] = {}
    failed: list[int] = []
    for index, status, label_json, confidence_json in finished_crowd_objects(session, job_id):
        if status == ObjectStatus.CONSOLIDATED and label_json is not None:
            confidence = json.loads(confidence_json) if confidence_json else 0.0
            labels[int(index)] = (int(json.loads(label_json)), float(confidence or 0.0))
        elif status == ObjectStatus.FAILED:
            failed.append(int(index))
    return JobCrowdResults(labels, failed)


def batch_in_progress(session: Any, job: Job) -> bool:
    """Released objects still waiting for the crowd, or answers not consolidated yet."""
    return objects_with_crowd_count(session, job.id) > 0 or job.consolidated_version != job.answers_version


def budget_left_objects(session: Any, job: Job) -> int | None:
    """How many more objects (HITs of workers_per_object answers) the budget can pay for."""
    if job.budget_cents is None:
        return None
    left = job_money(session, job.id).left_of(job.budget_cents)
    return max(0, left // hit_cost_cents(job.reward_cents, job.workers_per_object, job.masters))


def job_features(engine: Engine, settings: Any, job: Job, spec: Any, manifest_features: Any) -> Any:
    """The job's feature matrix, computed once per daemon process (FeatureError names the line)."""
    key = (str(engine.url), int(job.id), job.name)
    if key not in _FEATURES:
        with reading(engine) as session:
            rows = manifest_lines(session, job.id)
        _FEATURES[key] = manifest_features(
            spec.auto_label, [data for data, _ in rows], settings=settings, line_numbers=[line for _, line in rows]
        )
    return _FEATURES[key]


def save_model(labeler: Any, spec: Any, settings: Any) -> str | None:
    """Write the latest model to the output tree (local folder or S3); its URI, or None if none."""
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
    with reading(engine) as session:
        jobs = claim_jobs(session, "autolabel", job_ids)
        runs = autolabel_runs(session, [job.id for job in jobs])
    for job in jobs:
        run = runs.get(job.id)
        state = json.loads(run.state_json) if run is not None else None
        if state is not None and state.get("done"):
            continue
        if state is None and '"auto_label": null' in job.spec_json:  # cheap: no spec parse for plain jobs
            continue
        try:
            step_job(engine, settings, job, state, report)
        except Exception as exc:  # one job's failure must not stop the others; retried next tick
            log.exception("auto-label: job %s", job.name)
            report.errors.append(f"job {job.name}: {exc}")
    return report


def step_job(engine: Engine, settings: Any, job: Job, state: dict | None, report: AutoLabelReport) -> None:
    """Start the loop, or finish an iteration once its batch is done; commit it with the next batch."""
    spec = job_spec(job)
    config = spec.auto_label
    if config is None or not config.enabled:
        return
    # heavy optional dependency: these pull in scikit-learn (~1.3 s of CPU), which jobs without
    # auto_label never need
    from broker.autolabel.features import FeatureError, manifest_features
    from broker.autolabel.loop import AutoLabeler

    report.jobs += 1
    with reading(engine) as session:
        if state is not None and batch_in_progress(session, job):
            return
        crowd = crowd_results(session, job.id)
    model_uri = None
    again: list[int] = []
    try:
        if state is None:
            labeler = AutoLabeler(config, job.n_objects, None, len(spec.labels), job_seed(job))
        else:
            labeler = AutoLabeler.from_state(state, job_features(engine, settings, job, spec, manifest_features))
            result = labeler.iterate(crowd.human_labels, failed=crowd.failed)
            report.iterations += 1
            report.machine_labeled += len(result.machine_labels)
            model_uri = save_model(labeler, spec, settings)
            again = list(labeler.asking_again)
    except (ValueError, FeatureError) as exc:  # e.g. 1 object, an unreadable image: the crowd labels the rest
        release_all(engine, job, f"automated labeling turned off: {exc}")
        report.errors.append(f"job {job.name}: {exc}")
        return
    with reading(engine) as session:
        budget = budget_left_objects(session, job)
    batch = labeler.next_human_batch(crowd.human_labels, budget)
    if not batch and not labeler.done:  # defensive: nothing to ask and nothing open, so nothing will change
        labeler.done, labeler.reason = True, "no-batch"
    commit_step(engine, job, labeler, batch, model_uri, again)
    report.released += len(batch)
    if labeler.done:
        report.finished.append(job.name)


def commit_step(
    engine: Engine, job: Job, labeler: Any, batch: list[int], model_uri: str | None, again: list[int] = ()
) -> None:
    """State + machine labels + released batch + disputed evidence asked again + failures of a
    finished loop: one transaction."""
    now = utcnow()
    with transaction(engine) as session:
        held = held_object_ids(session, job.id)
        save_run_state(session, job.id, labeler.state_dict(), now, model_uri)
        machine_label(
            session,
            job.id,
            {held[index]: (value.label, value.confidence) for index, value in labeler.machine.items() if index in held},
            now,
        )
        released = {held[index]: labeler.workers_for(index, job.workers_per_object) for index in batch if index in held}
        release_to_crowd(session, job.id, released)
        ask_again(session, job.id, {index: labeler.config.dispute_answers for index in again})
        if labeler.done:
            fail_held(session, job.id, failure_reason(labeler.reason))
        if labeler.iterations:
            last = labeler.iterations[-1]
            record_autolabel_event(session, job.id, iteration_message(last.summary()))
        record_autolabel_event(
            session,
            job.id,
            f"{len(released)} objects released to the crowd"
            + (f", {len(again)} validation objects asked again (model and crowd disagree)" if again else "")
            if not labeler.done
            else f"automated labeling done ({labeler.reason}); {len(labeler.machine)} objects machine-labeled",
        )


def release_all(engine: Engine, job: Job, message: str) -> None:
    """Fall back to labeling every held object by the crowd (the loop cannot run for this job)."""
    with transaction(engine) as session:
        release_all_held(session, job.id)
        state = run_state(session, job.id)
        state.update(done=True, reason="turned-off", error=message)
        save_run_state(session, job.id, state, utcnow())
        record_autolabel_event(session, job.id, message)


__all__ = ["AutoLabelReport", "STOP_REASONS", "autolabel_tick"]
