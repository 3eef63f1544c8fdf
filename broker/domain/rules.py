"""Review, exclusion and bonus decisions as pure functions of what the stages read from the DB."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from broker.domain.answers import answer_labels
from broker.domain.lifecycle import ObjectStatus

APPROVAL_MARGIN = timedelta(hours=6)
EMPTY_ANSWER_MESSAGE = "The HIT was submitted without an answer."
UNREADABLE_ANSWER_MESSAGE = "Your answer could not be read: {reason}"
INVALID_ANSWER_MESSAGE = "Your answer failed the task's checks: {reason}"
MAX_REASON_CHARS = 300


# --------------------------------------------------------------------------------------------- review


@dataclass(frozen=True)
class Decision:
    row_id: int
    assignment_id: str
    approve: bool
    message: str | None = None


def agreement(answer: list[int], consolidated: list[int]) -> float:
    """1/0 for single labels; Jaccard overlap of the label sets for multi-label answers."""
    a, b = set(answer), set(consolidated)
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def agreement_by_worker(
    rows: Iterable[tuple[str, str | None, str | None]], labels: list[str]
) -> dict[str, tuple[float, int]]:
    """(WorkerId, answer JSON, consolidated label JSON) rows -> per worker: mean agreement with the
    consolidated labels, and over how many objects."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for worker_id, answer_json, label_json in rows:
        chosen = answer_labels(answer_json, labels)
        if chosen is None or label_json is None:
            continue
        consolidated = json.loads(label_json)
        consolidated = consolidated if isinstance(consolidated, list) else [consolidated]
        totals[worker_id][0] += agreement(chosen, consolidated)
        totals[worker_id][1] += 1
    return {worker: (total / count, int(count)) for worker, (total, count) in totals.items() if count}


def _reason(template: str, error: str | None) -> str:
    return template.format(reason=" ".join((error or "").split())[:MAX_REASON_CHARS])


def decide(
    policy: Any,
    pending: list[tuple[Any, Any]],
    labels: list[str],
    worker_agreement: dict[str, tuple[float, int]],
    now: datetime,
    *,
    settled: bool = False,
) -> list[Decision]:
    """Which pending assignments to approve or reject now (others wait), by the job's review policy.

    `settled`: no more answers are coming for the job (every object consolidated or failed), so a
    worker "agreement" cannot judge yet never will be judged: their work is approved now instead of
    waiting for MTurk's auto-approval, days away.
    """
    decisions: list[Decision] = []
    mode = getattr(policy, "approve", "all")
    for assignment, obj in pending:
        answer = assignment.answer_json
        error = getattr(assignment, "answer_error", None)
        has_choice = getattr(assignment, "chosen_json", None) is not None or answer_labels(answer, labels) is not None
        # empty: nothing readable, or a crowd-element answer (a JSON list) that chose no known label
        empty = answer is None or bool(labels and not has_choice and answer.lstrip().startswith("["))
        if empty and getattr(policy, "reject_empty", False):
            message = _reason(UNREADABLE_ANSWER_MESSAGE, error) if answer is None and error else EMPTY_ANSWER_MESSAGE
            decisions.append(Decision(assignment.id, assignment.assignment_id, False, message))
            continue
        if error and not empty and getattr(policy, "reject_invalid", False):
            decisions.append(
                Decision(assignment.id, assignment.assignment_id, False, _reason(INVALID_ANSWER_MESSAGE, error))
            )
            continue
        if mode == "all":
            decisions.append(Decision(assignment.id, assignment.assignment_id, True))
            continue
        near_auto = assignment.auto_approval_time is not None and assignment.auto_approval_time - now <= APPROVAL_MARGIN
        if mode == "manual":  # the requester decides; once MTurk has auto-approved, record it
            if assignment.auto_approval_time is not None and assignment.auto_approval_time <= now:
                decisions.append(Decision(assignment.id, assignment.assignment_id, True))
            continue
        score, judged = worker_agreement.get(assignment.worker_id, (1.0, 0))
        if obj.status != ObjectStatus.CONSOLIDATED or judged < policy.min_answers_to_judge:
            if near_auto or (settled and obj.status in (ObjectStatus.CONSOLIDATED, ObjectStatus.FAILED)):
                decisions.append(Decision(assignment.id, assignment.assignment_id, True))
            continue
        if score < policy.min_agreement:
            decisions.append(Decision(assignment.id, assignment.assignment_id, False, policy.reject_message))
        else:
            decisions.append(Decision(assignment.id, assignment.assignment_id, True))
    return decisions


# --------------------------------------------------------------------------------------------- quality


@dataclass(frozen=True)
class WorkerEvidence:
    """What the rules know about one worker in one job."""

    worker_id: str
    n_answers: int
    em_accuracy: float  # NaN when EM has not seen the worker
    gold_answers: int
    gold_accuracy: float  # NaN without gold answers


@dataclass(frozen=True)
class Exclusion:
    worker_id: str
    action: str  # "qualification" or "block"
    measure: str  # "gold" or "em"
    accuracy: float
    n_answers: int

    @property
    def reason(self) -> str:
        return f"{self.measure} accuracy {self.accuracy:.3f} over {self.n_answers} answers is below the threshold"


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


def decide_bonuses(
    evidence: list[WorkerEvidence], rule: Any, first_approved: dict[str, str], excluded: set[str]
) -> list[BonusAward]:
    """The top `rule.top_fraction` (at least one) of eligible workers by EM accuracy, ties by WorkerId.

    Eligible: `rule.min_answers` answers, an approved assignment to attach the bonus to, not excluded.
    """
    eligible = [
        w
        for w in evidence
        if w.n_answers >= rule.min_answers
        and not math.isnan(w.em_accuracy)
        and w.worker_id in first_approved
        and w.worker_id not in excluded
    ]
    if not eligible:
        return []
    eligible.sort(key=lambda w: (-w.em_accuracy, w.worker_id))
    top = max(1, math.ceil(rule.top_fraction * len(eligible) - 1e-9))
    return [
        BonusAward(w.worker_id, first_approved[w.worker_id], rule.amount_cents, rule.reason, w.em_accuracy)
        for w in eligible[:top]
    ]
