"""The quality stage: a job's exclusion and bonus rules, configured in `quality:`.

The decisions are pure functions of per-worker statistics (broker.domain.rules:
`decide_exclusions`, `decide_bonuses`); this stage reads the statistics, carries the decisions
out on the marketplace and logs every action as an Event with its reason, which the reports show.

- Exclusion: after `min_answers`, a worker below `min_accuracy` (on gold when they have
  `min_gold_answers` gold answers, else EM) gets the job's exclusion qualification (the HIT type
  requires it not to exist: a soft block) or a CreateWorkerBlock (hard block). The exclusion is a
  WorkerExclusion row, so their answers drop out of consolidation; each object that lost answers
  goes back to pending asking for as many fresh answers as were dropped (within the budget), and
  the publish stage gives it its next HIT.
- Bonus: once the job has no open work, the top `top_fraction` of workers by EM accuracy get
  one bonus each through broker.actions.bonuses (tokened by assignment, amount and reason), so a
  restart or a second run never pays twice.

Gold objects and the qualification test are set up at submit (broker.gold,
broker.actions.qualifications).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from broker import mturk
from broker.actions.bonuses import WorkerActionError, send_bonus, settle_paid_bonus, token_already_used
from broker.actions.qualifications import ensure_exclusion_qualification
from broker.domain.money import assignment_cost_cents
from broker.domain.rules import Exclusion, WorkerEvidence, decide_bonuses, decide_exclusions
from broker.store import reading, record_event, transaction
from broker.store.answers import answers_lost_to_exclusions, ask_again, finished_objects, fresh_answers_asked
from broker.store.claims import claim_jobs
from broker.store.engine import Engine
from broker.store.jobs import job_money, job_spec, lock_job
from broker.store.progress import answers_all_reviewed_and_labeled, record_bonus_round
from broker.store.tables import Job
from broker.store.views import load_job_answers
from broker.store.workers import excluded_workers, first_approved_assignments, record_exclusion, workers_paid_bonus
from broker.worker_quality import job_worker_quality

log = logging.getLogger(__name__)

REASSIGN_EVENT = "reassign"
QUALITY_EVENT = "quality"


@dataclass
class QualityReport:
    excluded: list[str] = field(default_factory=list)
    objects_reassigned: int = 0
    assignments_added: int = 0
    bonuses: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def worker_evidence(session: Any, job: Job) -> list[WorkerEvidence]:
    """Per worker of the job: answers, EM accuracy and gold accuracy (scoring.worker_stats)."""
    answers = load_job_answers(session, job)
    quality = job_worker_quality(answers)
    counts = np.bincount(answers.workers, minlength=len(answers.worker_ids))
    return [
        WorkerEvidence(
            w, int(counts[i]), float(quality.em_accuracy[i]), int(quality.gold_n[i]), float(quality.gold_accuracy[i])
        )
        for i, w in enumerate(answers.worker_ids)
    ]


def exclude_worker(engine: Engine, client: Any, job: Job, exclusion: Exclusion, rule: Any) -> None:
    """Carry out one exclusion on the marketplace, then record it (both calls are idempotent on MTurk)."""
    if exclusion.action == "block":
        client.create_worker_block(WorkerId=exclusion.worker_id, Reason=rule.reason)
    else:
        qualification = ensure_exclusion_qualification(client, job)
        client.associate_qualification_with_worker(
            QualificationTypeId=qualification, WorkerId=exclusion.worker_id, IntegerValue=1, SendNotification=False
        )
    with transaction(engine) as session:
        record_exclusion(
            session,
            job.id,
            exclusion.worker_id,
            exclusion.action,
            exclusion.reason,
            rule.min_accuracy,
            block_reason=rule.reason,
        )


def reassign_objects(engine: Engine, job: Job, report: QualityReport) -> None:
    """Each finished object that lost answers to exclusions goes back to pending for as many fresh
    answers as it lost (not yet asked for again), within the budget; publish makes its next HIT."""
    cost = int(assignment_cost_cents(job.reward_cents, job.workers_per_object, masters=job.masters))
    with transaction(engine) as session:
        lock_job(session, job.id)  # the budget read and the objects asked again: one daemon at a time
        dropped = answers_lost_to_exclusions(session, job.id)
        if not dropped:
            return
        asked = fresh_answers_asked(session, job.id, dropped)
        objects = finished_objects(session, [o for o, n in dropped.items() if n > asked.get(o, 0)])
        left = job_money(session, job.id).left_of(job.budget_cents)
        for obj in objects:
            needed = dropped[obj.id] - asked.get(obj.id, 0)
            if left is not None and needed * cost > left:
                record_event(
                    session,
                    job.id,
                    REASSIGN_EVENT,
                    f"object {obj.index}: no budget for {needed} fresh assignments ({left} cents left)",
                )
                continue
            ask_again(session, job.id, obj.id, needed)
            if left is not None:
                left -= needed * cost
            record_event(
                session,
                job.id,
                REASSIGN_EVENT,
                f"object {obj.index}: {needed} fresh assignments for answers of excluded workers",
            )
            report.objects_reassigned += 1
            report.assignments_added += needed


def pay_bonuses(
    engine: Engine, settings: Any, job: Job, rule: Any, evidence: list[WorkerEvidence], report: QualityReport
) -> None:
    """Bonus the top workers once: a worker already bonused under this rule's reason is skipped."""
    with reading(engine) as session:
        excluded = set(excluded_workers(session, job.id))
        first = first_approved_assignments(session, job.id)
        paid = workers_paid_bonus(session, job.id, rule.reason)
    for award in decide_bonuses(evidence, rule, first, excluded):
        if award.worker_id in paid:
            continue
        try:
            send_bonus(engine, settings, award.worker_id, award.assignment_id, award.amount_cents, award.reason)
        except ClientError as exc:
            if not token_already_used(exc):
                report.errors.append(f"bonus {award.worker_id}: {exc}")
                continue
            settle_paid_bonus(engine, job.id, award.worker_id, award.assignment_id, award.amount_cents, award.reason)
        except WorkerActionError as exc:
            report.errors.append(f"bonus {award.worker_id}: {exc}")
            continue
        with transaction(engine) as session:
            record_event(
                session,
                job.id,
                QUALITY_EVENT,
                f"{award.worker_id}: bonus rule: EM accuracy {award.em_accuracy:.2f} in the top "
                f"{rule.top_fraction:.0%}",
            )
        report.bonuses.append(award.worker_id)


def quality_tick(
    engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None, now: datetime | None = None
) -> QualityReport:
    """Apply every active job's exclusion and bonus rules (runs after consolidate)."""
    report = QualityReport()
    with reading(engine) as session:
        jobs = claim_jobs(session, "quality", job_ids)
    for job in jobs:
        spec = job_spec(job)
        quality = getattr(spec, "quality", None)
        if quality is None or (quality.exclusion is None and quality.bonus is None):
            continue
        with reading(engine) as session:
            state = (job.consolidated_version, answers_all_reviewed_and_labeled(session, job.id))
        key = (str(engine.url), job.id, job.created_at)
        if _LAST_STATE.get(key) == state:
            continue  # nothing new since the last pass (an EM fit per tick would be wasted)
        errors_before = len(report.errors)
        try:
            _quality_job(engine, settings, job, quality, report)
        except ClientError as exc:
            report.errors.append(f"job {job.name}: {mturk.error_code(exc)}: {mturk.error_message(exc)}")
            continue
        if len(report.errors) == errors_before:  # a pass with errors (a bonus not sent) runs again
            _LAST_STATE[key] = state
    return report


# (DB URL, job id, created) -> (consolidated_version, work finished) at the last complete pass;
# a restart re-runs once.
_LAST_STATE: dict[tuple[str, int, Any], tuple[int, bool]] = {}


def _quality_job(engine: Engine, settings: Any, job: Job, quality: Any, report: QualityReport) -> None:
    client = mturk.client_for(mturk.resolve_target(job.marketplace, settings))
    with reading(engine) as session:
        evidence = worker_evidence(session, job)
        already = set(excluded_workers(session, job.id))
    if quality.exclusion is not None:
        for exclusion in decide_exclusions(evidence, quality.exclusion, already):
            exclude_worker(engine, client, job, exclusion, quality.exclusion)
            report.excluded.append(exclusion.worker_id)
        reassign_objects(engine, job, report)
    if quality.bonus is not None:
        with reading(engine) as session:
            finished = answers_all_reviewed_and_labeled(session, job.id)
        if finished:
            errors_before, paid_before = len(report.errors), len(report.bonuses)
            pay_bonuses(engine, settings, job, quality.bonus, evidence, report)
            if len(report.errors) == errors_before:
                with transaction(engine) as session:
                    record_bonus_round(session, job.id, len(report.bonuses) - paid_before)


__all__ = ["QualityReport", "quality_tick", "worker_evidence"]
