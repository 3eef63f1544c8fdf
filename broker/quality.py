"""Quality control (issue 6): gold objects, exclusion rules and bonus rules, configured in `quality:`.

Decisions are pure functions of per-worker statistics (`decide_exclusions`, `decide_bonuses`,
`gold_positions`); `quality_tick` reads the stats from the DB, carries the decisions out on the
marketplace and logs every action as an Event with its reason, which the reports show.

- Gold: known-answer lines of `quality.gold.manifest` are interleaved with the real objects at
  `rate` when the job is submitted. Built-in task types show workers only the object's source,
  so the answer attribute never reaches the page.
- Exclusion: after `min_answers`, a worker below `min_accuracy` (on gold when they have
  `min_gold_answers` gold answers, else EM) gets the job's exclusion qualification (the HIT type
  requires it not to exist: a soft block) or a CreateWorkerBlock (hard block). Their answers drop
  out of consolidation and each affected object gets a fresh HIT with as many assignments as
  answers were dropped, within the budget.
- Qualification test: a Liquid template rendering MTurk's QuestionForm plus a YAML answer key
  become a qualification type with Test and AnswerKey (auto-scored, 0-100); the HIT type requires
  `min_score` to accept. Checked at submit, so a broken test stores nothing.
- Gold objects are left out of the output manifest (`without_gold`); reports measure them.
- Bonus: once the job has no open work, the top `top_fraction` of workers by EM accuracy get
  one bonus each, tokened by (assignment, amount, reason) through broker.review.send_bonus, so a
  restart or a second run never pays twice.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from botocore.exceptions import ClientError
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broker import mturk
from broker.db import (Assignment, Bonus, DataObject, Event, Hit, HitStatus, Job, JobStatus, ObjectStatus,
                       ReviewStatus, Worker, record_event, transaction, utcnow)
from broker.actions.qualifications import ensure_exclusion_qualification

log = logging.getLogger(__name__)

EXCLUDE_EVENT = "exclude"
REASSIGN_EVENT = "reassign"
QUALITY_EVENT = "quality"


# --------------------------------------------------------------------------------------------- pure decisions

@dataclass(frozen=True)
class WorkerEvidence:
    """What the rules know about one worker in one job."""

    worker_id: str
    n_answers: int
    em_accuracy: float          # NaN when EM has not seen the worker
    gold_answers: int
    gold_accuracy: float        # NaN without gold answers


@dataclass(frozen=True)
class Exclusion:
    worker_id: str
    action: str                 # "qualification" or "block"
    measure: str                # "gold" or "em"
    accuracy: float
    n_answers: int

    @property
    def reason(self) -> str:
        return (f"{self.measure} accuracy {self.accuracy:.3f} over {self.n_answers} answers "
                f"is below the threshold")


@dataclass(frozen=True)
class BonusAward:
    worker_id: str
    assignment_id: str
    amount_cents: int
    reason: str
    em_accuracy: float


def judged_accuracy(evidence: WorkerEvidence, measure: str, min_gold_answers: int) -> tuple[str, float] | None:
    """(measure used, accuracy) for the rule, or None when the worker cannot be judged yet."""
    has_gold = evidence.gold_answers >= min_gold_answers and not math.isnan(evidence.gold_accuracy)
    if measure == "gold" or (measure == "auto" and has_gold):
        return ("gold", evidence.gold_accuracy) if has_gold else None
    if math.isnan(evidence.em_accuracy):
        return None
    return "em", evidence.em_accuracy


def decide_exclusions(evidence: list[WorkerEvidence], rule: Any, already_excluded: set[str]) -> list[Exclusion]:
    """Workers with at least `rule.min_answers` answers whose accuracy is below `rule.min_accuracy`."""
    decisions: list[Exclusion] = []
    for worker in evidence:
        if worker.worker_id in already_excluded or worker.n_answers < rule.min_answers:
            continue
        judged = judged_accuracy(worker, rule.measure, rule.min_gold_answers)
        if judged is not None and judged[1] < rule.min_accuracy:
            decisions.append(Exclusion(worker.worker_id, rule.action, judged[0], judged[1], worker.n_answers))
    return decisions


def decide_bonuses(evidence: list[WorkerEvidence], rule: Any, first_approved: dict[str, str],
                   excluded: set[str]) -> list[BonusAward]:
    """The top `rule.top_fraction` (at least one) of eligible workers by EM accuracy, ties by WorkerId.

    Eligible: `rule.min_answers` answers, an approved assignment to attach the bonus to, not excluded.
    """
    eligible = [w for w in evidence if w.n_answers >= rule.min_answers and not math.isnan(w.em_accuracy)
                and w.worker_id in first_approved and w.worker_id not in excluded]
    if not eligible:
        return []
    eligible.sort(key=lambda w: (-w.em_accuracy, w.worker_id))
    top = max(1, math.ceil(rule.top_fraction * len(eligible) - 1e-9))
    return [BonusAward(w.worker_id, first_approved[w.worker_id], rule.amount_cents, rule.reason, w.em_accuracy)
            for w in eligible[:top]]


# --------------------------------------------------------------------------------------------- DB views

def excluded_workers(session: Session, job_id: int) -> dict[str, str]:
    """WorkerId -> reason of the workers a quality rule excluded from this job."""
    events = session.exec(select(Event.message).where(Event.job_id == job_id, Event.kind == EXCLUDE_EVENT)).all()
    excluded: dict[str, str] = {}
    for message in events:
        worker_id, _, reason = message.partition(": ")
        excluded[worker_id] = reason
    return excluded


def drop_excluded(session: Session, job_id: int, rows: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """Consolidation's answer rows without the answers of workers excluded from the job."""
    excluded = excluded_workers(session, job_id)
    return [row for row in rows if row[1] not in excluded] if excluded else rows


def worker_evidence(session: Session, job: Job) -> list[WorkerEvidence]:
    """Per worker of the job: answers, EM accuracy and gold accuracy (scoring.worker_stats)."""
    from broker.reports.answers import load_job_answers
    from broker.reports.workers import job_worker_quality

    answers = load_job_answers(session, job)
    quality = job_worker_quality(answers)
    counts = np.bincount(answers.workers, minlength=len(answers.worker_ids))
    return [WorkerEvidence(w, int(counts[i]), float(quality.em_accuracy[i]), int(quality.gold_n[i]),
                           float(quality.gold_accuracy[i])) for i, w in enumerate(answers.worker_ids)]


@dataclass
class QualityReport:
    excluded: list[str] = field(default_factory=list)
    objects_reassigned: int = 0
    assignments_added: int = 0
    bonuses: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def exclude_worker(engine: Engine, client: Any, job: Job, exclusion: Exclusion, rule: Any) -> None:
    """Carry out one exclusion on the marketplace, then log it (both calls are idempotent on MTurk)."""
    if exclusion.action == "block":
        client.create_worker_block(WorkerId=exclusion.worker_id, Reason=rule.reason)
    else:
        qualification = ensure_exclusion_qualification(client, job)
        client.associate_qualification_with_worker(QualificationTypeId=qualification, WorkerId=exclusion.worker_id,
                                                   IntegerValue=1, SendNotification=False)
    with transaction(engine) as session:
        if exclusion.action == "block":
            worker = session.get(Worker, exclusion.worker_id) or Worker(worker_id=exclusion.worker_id)
            worker.blocked = True
            worker.block_reason = rule.reason
            session.add(worker)
        record_event(session, job.id, EXCLUDE_EVENT,
                     f"{exclusion.worker_id}: {exclusion.action}: {exclusion.reason} ({rule.min_accuracy:.3f})")
        session.execute(Job.__table__.update().where(Job.__table__.c.id == job.id)
                        .values(answers_version=Job.__table__.c.answers_version + 1))


def reassign_objects(engine: Engine, settings: Any, client: Any, job: Job, spec: Any, report: QualityReport) -> None:
    """A fresh HIT for each finished object that lost answers to exclusions, within the budget."""
    from broker.domain.tokens import request_token
    from broker.publish import _create_hits, grant_read_access_for, hit_assignment_cost
    from broker.publish import PublishReport
    from broker.status import job_money

    cost = hit_assignment_cost(job)
    with transaction(engine) as session:
        excluded = excluded_workers(session, job.id)
        if not excluded:
            return
        dropped = dict(session.exec(
            select(Assignment.object_id, func.count()).where(Assignment.job_id == job.id,
                                                              Assignment.worker_id.in_(list(excluded)))
            .group_by(Assignment.object_id)).all())
        replaced = dict(session.exec(
            select(Hit.object_id, func.coalesce(func.sum(Hit.max_assignments), 0))
            .where(Hit.job_id == job.id, Hit.attempt > 0, Hit.object_id.in_(list(dropped)))
            .group_by(Hit.object_id)).all())
        attempts = dict(session.exec(select(Hit.object_id, func.max(Hit.attempt))
                                     .where(Hit.job_id == job.id, Hit.object_id.in_(list(dropped)))
                                     .group_by(Hit.object_id)).all())
        objects = session.exec(select(DataObject).where(
            DataObject.id.in_([o for o, n in dropped.items() if n > replaced.get(o, 0)]),
            DataObject.status.in_([ObjectStatus.ANSWERED, ObjectStatus.CONSOLIDATED, ObjectStatus.FAILED]))
            .order_by(DataObject.index)).all()
        money = job_money(session, job.id)
        left = None if job.budget_cents is None else job.budget_cents - money.spent_cents - money.committed_cents
        batch = []
        for obj in objects:
            needed = dropped[obj.id] - replaced.get(obj.id, 0)
            if left is not None and needed * cost > left:
                record_event(session, job.id, REASSIGN_EVENT,
                             f"object {obj.index}: no budget for {needed} fresh assignments ({left} cents left)")
                continue
            attempt = attempts.get(obj.id, 0) + 1
            hit = Hit(job_id=job.id, object_id=obj.id, attempt=attempt, token=request_token(job, obj.index, attempt),
                      status=HitStatus.CREATING, max_assignments=needed, reward_cents=job.reward_cents,
                      assignment_cost_cents=cost, created_at=utcnow())
            obj.status = ObjectStatus.PUBLISHED
            obj.failure_reason = None
            session.add(hit)
            session.add(obj)
            batch.append((hit, obj))
            if left is not None:
                left -= needed * cost
            record_event(session, job.id, REASSIGN_EVENT,
                         f"object {obj.index}: {needed} fresh assignments for answers of excluded workers")
            report.objects_reassigned += 1
            report.assignments_added += needed
    if batch:
        target = mturk.resolve_target(job.marketplace, settings)
        _create_hits(engine, client, job, spec, grant_read_access_for(target, settings), batch, PublishReport())


def first_approved_assignments(session: Session, job_id: int) -> dict[str, str]:
    """WorkerId -> their first approved AssignmentId in the job (a stable place to attach a bonus)."""
    rows = session.exec(select(Assignment.worker_id, Assignment.assignment_id)
                        .where(Assignment.job_id == job_id, Assignment.review_status == ReviewStatus.APPROVED)
                        .order_by(Assignment.id)).all()
    first: dict[str, str] = {}
    for worker_id, assignment_id in rows:
        first.setdefault(worker_id, assignment_id)
    return first


def job_work_finished(session: Session, job_id: int) -> bool:
    """No object waits for answers and nothing awaits review: the ranking of workers is final."""
    open_objects = session.exec(select(func.count()).select_from(DataObject).where(
        DataObject.job_id == job_id,
        DataObject.status.in_([ObjectStatus.HELD, ObjectStatus.PENDING, ObjectStatus.PUBLISHED,
                               ObjectStatus.ANSWERED]))).one()
    pending = session.exec(select(func.count()).select_from(Assignment).where(
        Assignment.job_id == job_id, Assignment.review_status == ReviewStatus.PENDING)).one()
    return open_objects == 0 and pending == 0


def pay_bonuses(engine: Engine, settings: Any, job: Job, rule: Any, evidence: list[WorkerEvidence],
                report: QualityReport) -> None:
    """Bonus the top workers once: a worker already bonused under this rule's reason is skipped."""
    from broker.review import WorkerActionError, send_bonus

    with Session(engine) as session:
        excluded = set(excluded_workers(session, job.id))
        first = first_approved_assignments(session, job.id)
        paid = set(session.exec(select(Bonus.worker_id).where(Bonus.job_id == job.id, Bonus.reason == rule.reason,
                                                               Bonus.sent == True)).all())  # noqa: E712
    for award in decide_bonuses(evidence, rule, first, excluded):
        if award.worker_id in paid:
            continue
        try:
            send_bonus(engine, settings, award.worker_id, award.assignment_id, award.amount_cents, award.reason)
        except ClientError as exc:
            if not _bonus_token_used(exc):
                report.errors.append(f"bonus {award.worker_id}: {exc}")
                continue
            _mark_bonus_sent(engine, job, award)     # paid before a crash lost the result: settle, never repay
        except WorkerActionError as exc:
            report.errors.append(f"bonus {award.worker_id}: {exc}")
            continue
        with transaction(engine) as session:
            record_event(session, job.id, QUALITY_EVENT,
                         f"{award.worker_id}: bonus rule: EM accuracy {award.em_accuracy:.2f} in the top "
                         f"{rule.top_fraction:.0%}")
        report.bonuses.append(award.worker_id)


def _bonus_token_used(error: ClientError) -> bool:
    """MTurk refuses a SendBonus whose UniqueRequestToken was already used: the bonus was paid."""
    text = f"{mturk.error_code(error)} {mturk.error_message(error)}"
    return "BonusAlreadyExists" in text or "UniqueRequestToken" in text


def _mark_bonus_sent(engine: Engine, job: Job, award: BonusAward) -> None:
    from broker.domain.tokens import bonus_token

    token = bonus_token(award.assignment_id, award.amount_cents, award.reason)
    with transaction(engine) as session:
        row = session.exec(select(Bonus).where(Bonus.token == token)).first()
        if row is not None and not row.sent:
            row.sent = True
            session.add(row)
            record_event(session, job.id, "bonus",
                         f"{award.amount_cents} cents to {award.worker_id} for {award.assignment_id} "
                         "(settled: MTurk had already paid this token)")


def quality_tick(engine: Engine, settings: Any = None, *, job_ids: list[int] | None = None,
                 now: datetime | None = None) -> QualityReport:
    """Apply every active job's exclusion and bonus rules (runs after consolidate)."""
    from broker.submit import job_spec

    report = QualityReport()
    with Session(engine) as session:
        jobs = [j for j in session.exec(select(Job).where(Job.status == JobStatus.ACTIVE))
                if job_ids is None or j.id in job_ids]
    for job in jobs:
        spec = job_spec(job)
        quality = getattr(spec, "quality", None)
        if quality is None or (quality.exclusion is None and quality.bonus is None):
            continue
        with Session(engine) as session:
            state = (job.consolidated_version, job_work_finished(session, job.id))
        key = (str(engine.url), job.id, job.created_at)
        if _LAST_STATE.get(key) == state:
            continue     # nothing new since the last pass (an EM fit per tick would be wasted)
        try:
            _quality_job(engine, settings, job, spec, quality, report)
        except ClientError as exc:
            report.errors.append(f"job {job.name}: {mturk.error_code(exc)}: {mturk.error_message(exc)}")
            continue
        _LAST_STATE[key] = state
    return report


# (DB URL, job id, created) -> (consolidated_version, work finished) at the last complete pass;
# a restart re-runs once.
_LAST_STATE: dict[tuple[str, int, Any], tuple[int, bool]] = {}


def _quality_job(engine: Engine, settings: Any, job: Job, spec: Any, quality: Any, report: QualityReport) -> None:
    client = mturk.client_for(mturk.resolve_target(job.marketplace, settings))
    with Session(engine) as session:
        evidence = worker_evidence(session, job)
        already = set(excluded_workers(session, job.id))
    if quality.exclusion is not None:
        for exclusion in decide_exclusions(evidence, quality.exclusion, already):
            exclude_worker(engine, client, job, exclusion, quality.exclusion)
            report.excluded.append(exclusion.worker_id)
        reassign_objects(engine, settings, client, job, spec, report)
    if quality.bonus is not None:
        with Session(engine) as session:
            finished = job_work_finished(session, job.id)
        if finished:
            pay_bonuses(engine, settings, job, quality.bonus, evidence, report)


__all__ = ["BonusAward", "Exclusion", "QualityReport", "WorkerEvidence", "decide_bonuses", "decide_exclusions",
           "drop_excluded", "excluded_workers", "quality_tick"]
