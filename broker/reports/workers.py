"""Per-worker statistics: volume, review outcome, EM accuracy, gold, agreement, time, wage, money.

EM figures come from scoring.worker_stats over the answers consolidation uses (labelled, not
rejected), fitted with the same default estimator, so a worker's agreement is agreement with the
job's consolidated labels. Over several jobs (`--all`) each figure is the answer-weighted mean
of the per-job figures; confusion matrices are kept per job (label sets differ between jobs).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from broker.domain.lifecycle import ReviewStatus
from broker.store import Job
from broker.store.jobs import job_spec
from broker.store.views import (
    blocked_workers,
    events_of,
    load_job_answers,
    worker_assignments,
    worker_exclusions,
)
from broker.worker_quality import job_worker_quality


@dataclass
class WorkerRow:
    """One worker over the reported jobs; money in cents, times in seconds, None when unknown."""

    worker_id: str
    assignments: int
    approved: int
    rejected: int
    pending: int
    em_accuracy: float | None
    gold_accuracy: float | None
    gold_answers: int
    agreement: float | None
    spammer_score: float | None
    median_seconds: float | None
    p90_seconds: float | None
    hourly_wage_cents: int | None  # (approved rewards + bonuses) per hour of work on all assignments
    earned_cents: int  # approved rewards + bonuses: what the worker got
    cost_cents: int  # what the requester paid for this worker, MTurk fees included
    bonus_cents: int
    first_seen: datetime | None
    last_seen: datetime | None
    status: str  # active, rejected (every answer), excluded (qualification) or blocked
    status_reason: str = ""
    daily: dict[str, int] = field(default_factory=dict)  # ISO date -> assignments submitted
    accuracy_low: float | None = None  # 95% interval of em_accuracy over the worker's answers
    accuracy_high: float | None = None
    assignment_ids: list[str] = field(default_factory=list)
    chance: float | None = None  # accuracy of random guessing on the worker's jobs (1 / number of labels)
    flags: list[str] = field(default_factory=list)  # "likely spammer: ...", "fails gold: ...", "too fast: ..."
    actions: list[str] = field(default_factory=list)  # exact commands that act on the flags

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkerReport:
    jobs: list[str]
    rows: list[WorkerRow]
    labels: list[str] | None  # the job's labels when one job is reported
    confusions: dict[str, np.ndarray]  # WorkerId -> (K, K), one job only
    class_confusion: np.ndarray | None  # (K, K) counts, one job only
    events: list[tuple[datetime, str, str, str]]  # (at, job, kind, message) of quality actions
    work_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))  # every assignment's work time


COLUMNS = (
    "worker_id",
    "assignments",
    "approved",
    "rejected",
    "em_accuracy",
    "gold_accuracy",
    "agreement",
    "spammer_score",
    "median_seconds",
    "p90_seconds",
    "hourly_wage_cents",
    "earned_cents",
    "cost_cents",
    "first_seen",
    "last_seen",
    "status",
)
# When a worker is flagged (each flag says its evidence): enough answers to tell, then the figure.
MIN_ANSWERS_TO_FLAG = 5
SPAMMER_FLAG = 0.7  # spammer score (scoring.spammer_score: 0 informative .. 1 answers unrelated to the truth)
MIN_GOLD_TO_FLAG = 3
GOLD_FLAG_ACCURACY = 0.6
TOO_FAST_SHARE = 0.25  # median work time below this share of the crowd's median
QUALITY_EVENT_KINDS = ("exclude", "block", "unblock", "bonus", "gold", "reassign", "quality")


def _weighted(values: np.ndarray, weights: np.ndarray) -> float | None:
    ok = ~np.isnan(values) & (weights > 0)
    if not ok.any():
        return None
    return float(np.average(values[ok], weights=weights[ok]))


def _time_stats(seconds: np.ndarray) -> tuple[float | None, float | None, float]:
    known = seconds[~np.isnan(seconds)]
    if known.size == 0:
        return None, None, 0.0
    return float(np.median(known)), float(np.percentile(known, 90)), float(known.sum())


def team_jobs(jobs: list[Job], team: str) -> list[Job]:
    """The jobs worked by a private team (`workforce: {team: ...}`): a team's statistics are its workers' on these."""
    return [job for job in jobs if (workforce := job_spec(job).workforce) is not None and workforce.team == team]


def worker_report(session: Any, jobs: list[Job]) -> WorkerReport:
    """Statistics of every worker who answered any of `jobs`."""
    per_job = [(answers, job_worker_quality(answers)) for answers in (load_job_answers(session, j) for j in jobs)]
    worker_ids = sorted({w for answers, _ in per_job for w in answers.worker_ids})
    code = {w: i for i, w in enumerate(worker_ids)}
    n = len(worker_ids)

    def gather(name: str, source: str = "answers") -> np.ndarray:
        parts = [getattr(a if source == "answers" else q, name) for a, q in per_job]
        return np.concatenate(parts) if parts else np.zeros(0)

    workers = (
        np.concatenate(
            [
                np.array([code[w] for w in a.worker_ids], dtype=np.int64)[a.workers]
                if a.workers.size
                else np.zeros(0, dtype=np.int64)
                for a, _ in per_job
            ]
        )
        if per_job
        else np.zeros(0, dtype=np.int64)
    )
    review = gather("review")
    seconds = gather("submit") - gather("accept")
    submit = gather("submit")
    accept = gather("accept")
    approved = review == ReviewStatus.APPROVED
    count = np.bincount(workers, minlength=n)
    n_approved = np.bincount(workers, weights=approved, minlength=n).astype(int)
    n_rejected = np.bincount(workers, weights=review == ReviewStatus.REJECTED, minlength=n).astype(int)
    reward = np.bincount(workers, weights=np.where(approved, gather("reward_cents"), 0), minlength=n)
    cost = np.bincount(workers, weights=np.where(approved, gather("cost_cents"), 0), minlength=n)

    # per-job quality -> per-worker weighted sums
    fitted = np.zeros(n)
    sums = {
        name: np.zeros(n)
        for name in ("em_accuracy", "accuracy_low", "accuracy_high", "agreement", "spammer_score", "chance")
    }
    gold_n = np.zeros(n)
    gold_right = np.zeros(n)
    for answers, quality in per_job:
        idx = np.array([code[w] for w in answers.worker_ids], dtype=np.int64)
        if idx.size == 0:
            continue
        weight = quality.n_fitted.astype(float)
        fitted[idx] += np.where(np.isnan(quality.em_accuracy), 0, weight)
        for name in sums.keys() - {"chance"}:
            sums[name][idx] += np.nan_to_num(getattr(quality, name)) * weight
        sums["chance"][idx] += np.where(np.isnan(quality.em_accuracy), 0, weight) / max(len(answers.labels), 1)
        gold_n[idx] += quality.gold_n
        gold_right[idx] += np.nan_to_num(quality.gold_accuracy) * quality.gold_n

    bonus = {w: sum(a.bonus_cents.get(w, 0) for a, _ in per_job) for w in worker_ids}
    bonus_fee = {w: sum(a.bonus_fee_cents.get(w, 0) for a, _ in per_job) for w in worker_ids}
    statuses = _worker_statuses(session, worker_ids, [j.id for j in jobs])
    assignments_of = worker_assignments(session, [j.id for j in jobs])
    days = np.floor(submit / 86400.0)
    order = np.argsort(workers, kind="stable")
    bounds = np.searchsorted(workers[order], np.arange(n + 1))

    rows: list[WorkerRow] = []
    for i, worker_id in enumerate(worker_ids):
        mine = order[bounds[i] : bounds[i + 1]]
        median, p90, total_seconds = _time_stats(seconds[mine])
        earned = int(reward[i]) + bonus[worker_id]
        wage = int(round(earned * 3600 / total_seconds)) if total_seconds > 0 else None
        known_days = days[mine][~np.isnan(days[mine])]
        day_values, day_counts = np.unique(known_days, return_counts=True)
        status, reason = statuses.get(worker_id, ("active", ""))
        mine_assignments = assignments_of.get(worker_id, [])
        if status == "active" and count[i] and n_rejected[i] == count[i]:
            status, reason = "rejected", next((m for _, _, m in reversed(mine_assignments) if m), "")
        rows.append(
            WorkerRow(
                worker_id=worker_id,
                assignments=int(count[i]),
                approved=int(n_approved[i]),
                rejected=int(n_rejected[i]),
                pending=int(count[i] - n_approved[i] - n_rejected[i]),
                em_accuracy=float(sums["em_accuracy"][i] / fitted[i]) if fitted[i] else None,
                gold_accuracy=float(gold_right[i] / gold_n[i]) if gold_n[i] else None,
                gold_answers=int(gold_n[i]),
                agreement=float(sums["agreement"][i] / fitted[i]) if fitted[i] else None,
                spammer_score=float(sums["spammer_score"][i] / fitted[i]) if fitted[i] else None,
                median_seconds=median,
                p90_seconds=p90,
                hourly_wage_cents=wage,
                earned_cents=earned,
                cost_cents=int(cost[i]) + bonus[worker_id] + bonus_fee[worker_id],
                bonus_cents=bonus[worker_id],
                first_seen=_time(np.nanmin(accept[mine]) if mine.size and not np.isnan(accept[mine]).all() else None),
                last_seen=_time(np.nanmax(submit[mine]) if mine.size and not np.isnan(submit[mine]).all() else None),
                status=status,
                status_reason=reason,
                daily={_time(d * 86400.0).date().isoformat(): int(c) for d, c in zip(day_values, day_counts)},
                accuracy_low=float(sums["accuracy_low"][i] / fitted[i]) if fitted[i] else None,
                accuracy_high=float(sums["accuracy_high"][i] / fitted[i]) if fitted[i] else None,
                assignment_ids=[assignment_id for assignment_id, _, _ in mine_assignments],
                chance=float(sums["chance"][i] / fitted[i]) if fitted[i] else None,
            )
        )
    crowd_median = float(np.median(seconds[~np.isnan(seconds)])) if (~np.isnan(seconds)).any() else None
    for row in rows:
        row.flags = worker_flags(row, crowd_median)
        row.actions = suggested_actions(row, [j.name for j in jobs])
    single = per_job[0] if len(per_job) == 1 else None
    confusions = {}
    if single is not None and single[1].confusion is not None:
        answers, quality = single
        confusions = {w: quality.confusion[c] for c, w in enumerate(answers.worker_ids) if quality.n_fitted[c] > 0}
    return WorkerReport(
        jobs=[j.name for j in jobs],
        rows=rows,
        labels=single[0].labels if single is not None else None,
        confusions=confusions,
        class_confusion=single[1].class_confusion if single is not None else None,
        events=quality_events(session, jobs),
        work_seconds=seconds[~np.isnan(seconds)],
    )


def _interval(row: WorkerRow) -> str:
    if row.em_accuracy is None:
        return "accuracy unknown"
    if row.accuracy_low is None or row.accuracy_high is None:
        return f"accuracy {row.em_accuracy:.2f}"
    return f"accuracy {row.em_accuracy:.2f} ({row.accuracy_low:.2f}-{row.accuracy_high:.2f})"


def worker_flags(row: WorkerRow, crowd_median_seconds: float | None) -> list[str]:
    """Why a worker deserves a look, each with its evidence; none below MIN_ANSWERS_TO_FLAG answers
    (a worker with two answers has an interval too wide to judge)."""
    flags: list[str] = []
    if row.status == "rejected":
        flags.append(
            f"all {row.assignments} answers rejected" + (f": {row.status_reason}" if row.status_reason else "")
        )
    if row.assignments < MIN_ANSWERS_TO_FLAG:
        return flags
    if row.spammer_score is not None and row.spammer_score >= SPAMMER_FLAG:
        flags.append(
            f"likely spammer: spammer score {row.spammer_score:.2f}, {_interval(row)} over {row.assignments} answers"
        )
    if row.chance is not None and row.accuracy_high is not None and row.accuracy_high < row.chance:
        flags.append(
            f"answers against the truth: {_interval(row)} over {row.assignments} answers, "
            f"below guessing ({row.chance:.2f})"
        )
    if (
        row.gold_answers >= MIN_GOLD_TO_FLAG
        and row.gold_accuracy is not None
        and row.gold_accuracy < GOLD_FLAG_ACCURACY
    ):
        right = round(row.gold_accuracy * row.gold_answers)
        flags.append(f"fails gold: {right} of {row.gold_answers} gold answers right")
    if (
        crowd_median_seconds
        and row.median_seconds is not None
        and row.median_seconds < TOO_FAST_SHARE * crowd_median_seconds
    ):
        flags.append(
            f"too fast: median {row.median_seconds:.1f} s per answer, the crowd's {crowd_median_seconds:.1f} s"
        )
    return flags


def suggested_actions(row: WorkerRow, jobs: list[str]) -> list[str]:
    """The commands that act on a flagged worker: reject what still waits for review, then block."""
    if not row.flags or row.status in ("blocked", "rejected"):
        return []
    reason = row.flags[0].split(":", 1)[0]
    actions = []
    if row.pending and len(jobs) == 1:
        actions.append(f'broker review {jobs[0]} --worker {row.worker_id} --reject-all --reason "Rejected: {reason}."')
    actions.append(f'broker worker block {row.worker_id} --reason "{reason.capitalize()} on our tasks."')
    return actions


def _time(epoch_seconds: float | None) -> datetime | None:
    if epoch_seconds is None or np.isnan(epoch_seconds):
        return None
    return datetime.fromtimestamp(float(epoch_seconds), tz=UTC)


def _worker_statuses(session: Any, worker_ids: list[str], job_ids: list[int]) -> dict[str, tuple[str, str]]:
    """Blocked (CreateWorkerBlock) or excluded by a quality rule of one of the jobs, with the reason."""
    statuses = {worker_id: ("excluded", reason) for worker_id, reason in worker_exclusions(session, job_ids).items()}
    statuses.update(
        {worker_id: ("blocked", reason) for worker_id, reason in blocked_workers(session, worker_ids).items()}
    )
    return statuses


def quality_events(session: Any, jobs: list[Job]) -> list[tuple[datetime, str, str, str]]:
    """Quality-control actions logged for these jobs (and global blocks), oldest first."""
    names = {j.id: j.name for j in jobs}
    return [
        (e.at, names.get(e.job_id, "-"), e.kind, e.message)
        for e in events_of(session, list(names), QUALITY_EVENT_KINDS)
    ]


def summarise_events(events: list[tuple[datetime, str, str, str]]) -> list[tuple[datetime, str, str, str]]:
    """Per-object reassignment events folded into one line per job (first time, totals); others kept."""
    kept: list[tuple[datetime, str, str, str]] = []
    folded: dict[str, list[Any]] = {}
    for at, job, kind, message in events:
        if kind != "reassign":
            kept.append((at, job, kind, message))
            continue
        match = re.search(r": (\d+) fresh assignments", message)
        entry = folded.setdefault(job, [at, 0, 0, 0])
        if match:
            entry[1] += 1
            entry[2] += int(match.group(1))
        else:
            entry[3] += 1
    for job, (at, objects, assignments, refused) in folded.items():
        text = f"{objects} objects got {assignments} fresh assignments for answers of excluded workers"
        kept.append((at, job, "reassign", text + (f"; {refused} refused for lack of budget" if refused else "")))
    return sorted(kept, key=lambda event: event[0])


def sort_rows(rows: list[WorkerRow], column: str, descending: bool | None = None) -> list[WorkerRow]:
    """Rows sorted by a column; None values last. Numeric columns sort high-first unless told."""
    if column not in WorkerRow.__dataclass_fields__:
        raise ValueError(f"unknown column {column!r}; choose from {', '.join(COLUMNS)}")
    present = [r for r in rows if getattr(r, column) is not None]
    missing = [r for r in rows if getattr(r, column) is None]
    if descending is None:
        descending = column not in (
            "worker_id",
            "status",
            "first_seen",
            "last_seen",
            "median_seconds",
            "p90_seconds",
            "spammer_score",
        )
    return sorted(present, key=lambda r: getattr(r, column), reverse=descending) + missing
