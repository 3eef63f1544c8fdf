"""Pricing experiments: the same kind of objects posted in arms that differ in reward (and workers
per object), randomised; per arm speed, quality and cost; the cheapest arm that meets a quality
target and a deadline is recommended.

An experiment spec names a base job spec and the arms. `plan_arms` shuffles the base manifest
with the seed and deals its objects to the arms; `submit_experiment` writes one manifest and one
job spec per arm and submits them as ordinary jobs named `<experiment>-<arm>`, so the daemon
publishes them side by side (design `simultaneous`: each arm is its own HIT type and workers choose
between them) or one after another (`sequential`: the next arm is posted when the one before is
done). `experiment_results` reads the arms from the broker DB and analyses them
(broker.experiments.analysis).
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from broker.consolidation import AnswerArrays, consolidate_answers
from broker.domain.clock import utcnow
from broker.domain.money import MoneyError, usd_to_cents
from broker.experiments import allocation, stats
from broker.experiments.analysis import INTERVALS, ArmData, ExperimentAnalysis, IntervalMethod, analyse
from broker.manifest import read_manifest
from broker.reports.workers import worker_report
from broker.spec import (
    Issue,
    Seconds,
    SpecError,
    StrictModel,
    SubmitError,
    UsdText,
    YamlDocument,
    _rules_error,
    load_job_spec,
    validation_issues,
)
from broker.stages.submit import submit_job
from broker.store import Job, reading
from broker.store.jobs import job_money, job_named
from broker.store.views import existing_job_names, load_job_answers, object_results

EXAMPLE_SPEC = "config/examples/pricing-experiment.yaml"
# allocation: thompson. A warm-up of 20 objects per arm puts an accuracy near 85% within about +-8
# points before any adapting; each later round is the size of the warm-up; every arm keeps at least
# 5% of each round, so no object's inverse-propensity weight exceeds 20.
DEFAULT_WARMUP_OBJECTS = 20
DEFAULT_MIN_SHARE = 0.05


class Arm(StrictModel):
    name: str = Field(default="", pattern=r"^[a-zA-Z0-9-]{0,20}$")
    reward: UsdText = Field(default=None, exclude=True)
    reward_cents: int | None = Field(default=None, ge=1)
    workers_per_object: int | None = Field(default=None, ge=1, le=9)
    budget_usd: UsdText = Field(default=None, exclude=True)
    budget_cents: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _money(self) -> Arm:
        for text, cents in (("reward", "reward_cents"), ("budget_usd", "budget_cents")):
            if getattr(self, text) is not None:
                try:
                    setattr(self, cents, usd_to_cents(getattr(self, text)))
                except MoneyError as error:
                    raise ValueError(f"{text}: {error}") from error
                setattr(self, text, None)
        if self.reward_cents is None or self.reward_cents < 1:
            raise ValueError(f'reward: required, e.g. reward: "0.05" (see {EXAMPLE_SPEC})')
        return self


class PricingExperimentSpec(StrictModel):
    """`broker experiment pricing spec.yaml`: arms over one base job (every field: EXAMPLE_SPEC)."""

    experiment: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,39}$")
    job: str = Field(min_length=1, description="the base job spec (task, labels, manifest, texts)")
    arms: list[Arm] = Field(min_length=2, max_length=10)
    objects_per_arm: int | None = Field(default=None, ge=1)
    design: Literal["simultaneous", "sequential"] = "simultaneous"
    seed: int = 0
    quality_target: float = Field(default=0.9, ge=0.0, le=1.0)
    deadline_seconds: Seconds = Field(default=86_400, ge=1)
    smallest_difference: float = Field(default=0.05, gt=0.0, lt=1.0)
    predict_objects: int | None = Field(default=None, ge=1)
    predict_probability: float = Field(default=0.9, gt=0.0, lt=1.0)
    truth_attribute: str = Field(
        default="gold-label", min_length=1, description="manifest attribute with the known answer, when there is one"
    )
    allocation: Literal["fixed", "thompson"] = "fixed"
    warmup_objects: int | None = Field(default=None, ge=1, description="thompson: objects per arm before adapting")
    batch_objects: int | None = Field(default=None, ge=1, description="thompson: objects allocated per round")
    min_share: float | None = Field(default=None, ge=0.0, lt=0.5, description="thompson: least share of a round")

    @field_validator("job")
    @classmethod
    def _resolve(cls, value: str, info: Any) -> str:
        base = (info.context or {}).get("base_dir")
        return str((Path(base) / value).resolve()) if base and not Path(value).is_absolute() else value

    @model_validator(mode="after")
    def _names(self) -> PricingExperimentSpec:
        for index, arm in enumerate(self.arms):
            if not arm.name:
                arm.name = f"arm{index + 1}"
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        return self

    @model_validator(mode="after")
    def _allocation(self) -> PricingExperimentSpec:
        problems = self._allocation_problems()
        if problems:
            raise _rules_error(problems)
        return self

    def _allocation_problems(self) -> list[tuple[str, str]]:
        """(field path, message) of every rule of allocation the spec breaks."""
        adaptive = ("warmup_objects", "batch_objects", "min_share")
        if self.allocation == "fixed":
            return [
                (name, "only with allocation: thompson (allocation is fixed)")
                for name in adaptive
                if getattr(self, name) is not None
            ]
        problems = []
        if self.design != "simultaneous":
            problems.append(
                ("design", "allocation: thompson posts each round's arms at once; use design: simultaneous")
            )
        if self.min_share is not None and self.min_share * len(self.arms) > 1:
            problems.append(("min_share", f"{self.min_share} for each of {len(self.arms)} arms is over a whole round"))
        for index, arm in enumerate(self.arms):
            if arm.budget_cents is not None:
                problems.append(
                    (
                        f"arms[{index}].budget_usd",
                        "an arm's budget caps one job, and with allocation: thompson each round is its own job; "
                        "leave the arms' budgets out (objects_per_arm x arms bounds the spend)",
                    )
                )
            if re.search(r"-r[0-9]+$", arm.name):
                problems.append((f"arms[{index}].name", "a name ending in -r<number> would clash with a round's job"))
            if len(round_job_name(self.experiment, arm.name, 999)) > 63:
                problems.append(
                    (
                        f"arms[{index}].name",
                        f"{self.experiment}-{arm.name}-r<round> must fit a job name's 63 characters; "
                        "shorten the experiment or arm name",
                    )
                )
        return problems

    @property
    def warmup(self) -> int:
        return self.warmup_objects or DEFAULT_WARMUP_OBJECTS

    @property
    def batch(self) -> int:
        return self.batch_objects or self.warmup * len(self.arms)

    @property
    def floor(self) -> float:
        return DEFAULT_MIN_SHARE if self.min_share is None else self.min_share


def load_experiment_spec(path: str | Path) -> PricingExperimentSpec:
    """Read and validate; SpecError names the file, line and field of every problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError([Issue(name, None, "", f"cannot read: {error}")]) from error
    document = YamlDocument.load(name, text)
    if not isinstance(document.data, dict):
        raise SpecError([Issue(name, 1, "", "an experiment spec is a YAML mapping")])
    try:
        return PricingExperimentSpec.model_validate(document.data, context={"base_dir": Path(path).resolve().parent})
    except ValidationError as error:
        issues = [
            dataclasses.replace(issue, message=issue.message.replace("see config/examples/", f"see {EXAMPLE_SPEC}"))
            for issue in validation_issues(error, document)
        ]
        raise SpecError(issues) from error


# --------------------------------------------------------------------------------------------- posting


def experiment_order(n_objects: int, n_arms: int, seed: int, per_arm: int | None = None) -> list[int]:
    """The manifest line indices the experiment uses, in a seeded random order."""
    order = list(range(n_objects))
    random.Random(seed).shuffle(order)
    if per_arm is not None:
        if per_arm * n_arms > n_objects:
            raise ValueError(
                f"objects_per_arm {per_arm} x {n_arms} arms needs {per_arm * n_arms} objects; "
                f"the manifest has {n_objects}"
            )
        order = order[: per_arm * n_arms]
    return order


def plan_arms(n_objects: int, n_arms: int, seed: int, per_arm: int | None = None) -> list[list[int]]:
    """Manifest line indices per arm: a seeded shuffle dealt round-robin (arms differ by at most one)."""
    order = experiment_order(n_objects, n_arms, seed, per_arm)
    return [sorted(order[i::n_arms]) for i in range(n_arms)]


def arm_job_name(experiment: str, arm: str) -> str:
    return f"{experiment}-{arm}"


def round_job_name(experiment: str, arm: str, round_index: int) -> str:
    """An adaptive round's job of an arm: the warm-up (round 0) is the arm's own job name."""
    return arm_job_name(experiment, arm) if round_index == 0 else f"{experiment}-{arm}-r{round_index}"


BASE_BUDGET_FIELDS = ("budget_usd", "budget_cents")


def write_arm_jobs(
    spec: PricingExperimentSpec,
    folder: Path,
    settings: Any = None,
    overrides: dict[str, Any] | None = None,
    plan: list[list[int]] | None = None,
    round_index: int = 0,
) -> list[Path | None]:
    """One manifest and one job spec per arm in `folder` (the base job's YAML with the arm's reward,
    workers and budget; `overrides` replace base fields, e.g. a simulation's marketplace). `plan`: the
    manifest lines of each arm (default: the fixed allocation's); an arm with none gets no job (None)."""
    base = load_job_spec(spec.job, settings=settings)
    raw = yaml.safe_load(Path(spec.job).read_text(encoding="utf-8"))
    budgeted = [key for key in BASE_BUDGET_FIELDS if key in raw]
    if budgeted:
        raise SubmitError(
            f"{spec.job}: {budgeted[0]} caps one job, and each arm is its own job: remove it from the base job "
            f"and give each arm its own budget_usd in the experiment spec (see {EXAMPLE_SPEC})"
        )
    lines, _ = read_manifest(base.input_manifest, settings=settings, task_type=base.task_type)
    if plan is None:
        plan = plan_arms(len(lines), len(spec.arms), spec.seed, spec.objects_per_arm)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path | None] = []
    for arm, indices in zip(spec.arms, plan):
        if not indices:
            paths.append(None)
            continue
        stem = arm.name if round_index == 0 else f"{arm.name}-r{round_index}"
        manifest = folder / f"{stem}.manifest"
        manifest.write_text(
            "".join(json.dumps(lines[i].data, ensure_ascii=False) + "\n" for i in indices), encoding="utf-8"
        )
        job = {key: value for key, value in raw.items() if key not in ("reward", "reward_cents")}
        job.update(
            job_name=round_job_name(spec.experiment, arm.name, round_index),
            input_manifest=str(manifest),
            reward_cents=arm.reward_cents,
            output=str(Path(base.output) / spec.experiment / stem),
            workers_per_object=arm.workers_per_object or base.workers_per_object,
        )
        if arm.budget_cents is not None:
            job["budget_cents"] = arm.budget_cents
        job.update(overrides or {})
        if base.template:
            job["template"] = base.template
        if isinstance(raw.get("label_category_config"), str):
            job["label_category_config"] = str(Path(spec.job).parent / raw["label_category_config"])
        path = folder / f"{stem}.yaml"
        path.write_text(yaml.safe_dump(job, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def arms_to_submit(spec: PricingExperimentSpec, engine: Any) -> list[str]:
    """The arms to post now: all of them at once, or (sequential) the next one once the one before is done."""
    names = [arm_job_name(spec.experiment, arm.name) for arm in spec.arms]
    with reading(engine) as session:
        taken = existing_job_names(session, names)
        if spec.design == "simultaneous":
            if taken:
                raise SubmitError(
                    f"experiment {spec.experiment}: job(s) {', '.join(taken)} already exist; "
                    "give the experiment a new name"
                )
            return [arm.name for arm in spec.arms]
        if not taken:
            return [spec.arms[0].name]
        posted = [arm for arm, name in zip(spec.arms, names) if name in taken]
        if len(posted) == len(spec.arms):
            raise SubmitError(f"experiment {spec.experiment}: every arm was posted already; report on it with --report")
        last = job_named(session, arm_job_name(spec.experiment, posted[-1].name))
        if last is not None and last.completed_at is None:
            raise SubmitError(
                f"experiment {spec.experiment} is sequential: arm {posted[-1].name} is still running; "
                "post the next arm when it is done"
            )
    return [spec.arms[len(posted)].name]


def submit_experiment(
    spec: PricingExperimentSpec,
    folder: Path,
    engine: Any,
    settings: Any = None,
    arms: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    adaptive_round: AllocationRound | None = None,
) -> list[int]:
    """Submit the arms due (all, or the next one of a sequential design, or the next round of an
    adaptive allocation; every arm's job spec is written and validated before any is submitted);
    returns the job ids."""
    plan, round_index = None, 0
    if spec.allocation == "thompson":
        due_round = adaptive_round or round_to_submit(spec, engine, settings)
        plan, round_index = due_round.objects, due_round.index
        due = [arm.name for arm in spec.arms]
    else:
        due = arms if arms is not None else arms_to_submit(spec, engine)
    paths = write_arm_jobs(spec, folder, settings, overrides, plan, round_index)
    for path in paths:
        if path is not None:
            load_job_spec(path, settings=settings)  # every arm valid before any is submitted
    chosen = [path for arm, path in zip(spec.arms, paths) if arm.name in due and path is not None]
    return [submit_job(path, engine, settings).job_id for path in chosen]


# --------------------------------------------------------------------------------------------- adaptive


@dataclass(frozen=True)
class AllocationRound:
    """One round of an adaptive allocation: each arm's manifest lines, and the probability with which
    each of the round's objects was assigned to each arm."""

    index: int
    objects: list[list[int]]
    shares: list[float]


@dataclass
class AdaptiveHistory:
    """The rounds posted so far (each arm's job in it, None when it got no objects) and the next one."""

    rounds: list[AllocationRound]
    jobs: list[list[Job | None]]
    next_round: AllocationRound | None


def warmup_round(spec: PricingExperimentSpec, n_lines: int) -> AllocationRound:
    """Round 0: the first warmup_objects x arms of the shuffled objects, dealt evenly."""
    order = experiment_order(n_lines, len(spec.arms), spec.seed, spec.objects_per_arm)
    k = len(spec.arms)
    if spec.warmup * k > len(order):
        raise ValueError(
            f"warmup_objects: {spec.warmup} per arm x {k} arms needs {spec.warmup * k} objects; "
            f"the experiment has {len(order)}"
        )
    head = order[: spec.warmup * k]
    return AllocationRound(0, [sorted(head[i::k]) for i in range(k)], [1.0 / k] * k)


def allocation_round(
    spec: PricingExperimentSpec, n_lines: int, index: int, evidence: list[allocation.ArmEvidence]
) -> AllocationRound | None:
    """Round `index` >= 1: the next batch_objects of the shuffled objects, each given to an arm drawn with
    the Thompson shares of the evidence so far (None: every object is allocated)."""
    order = experiment_order(n_lines, len(spec.arms), spec.seed, spec.objects_per_arm)
    start = spec.warmup * len(spec.arms) + (index - 1) * spec.batch
    batch = order[start : start + spec.batch]
    if not batch:
        return None
    rng = np.random.default_rng([spec.seed, 5, index])
    shares = allocation.floored(allocation.win_shares(evidence, spec.quality_target, rng), spec.floor)
    arms = allocation.draw_arms(shares, len(batch), rng)
    chosen = [sorted(line for line, arm in zip(batch, arms) if arm == i) for i in range(len(spec.arms))]
    return AllocationRound(index, chosen, [round(float(x), 6) for x in shares])


def arm_evidence(data: ArmData, deadline_seconds: float) -> allocation.ArmEvidence:
    """What the allocation sees of an arm: effective correct and judged counts, cost per object, on time."""
    effect = stats.design_effect(data.correct, data.object_workers) if data.object_workers.shape[0] else 1.0
    right, judged = float((data.correct == 1).sum()), float((data.correct >= 0).sum())
    done = float(data.finished.sum())
    return allocation.ArmEvidence(
        correct=right / effect,
        judged=judged / effect,
        cost_per_object_cents=float(data.cost_cents.sum()) / done if done else float("inf"),
        on_time=bool(data.finished.all() and (data.seconds.max() if data.seconds.size else 0.0) <= deadline_seconds),
    )


def adaptive_history(
    session: Any, spec: PricingExperimentSpec, n_lines: int, now: datetime | None = None
) -> AdaptiveHistory:
    """The rounds posted, read from the broker DB; each round's allocation is replayed from the seed and
    the rounds before it (their jobs are done by then, so the replay is what was posted), and checked
    against the jobs that were posted."""
    rounds: list[AllocationRound] = []
    jobs: list[list[Job | None]] = []
    caches = [ArmCache() for _ in spec.arms]
    due: AllocationRound | None = warmup_round(spec, n_lines)
    while due is not None:
        posted = [job_named(session, round_job_name(spec.experiment, arm.name, due.index)) for arm in spec.arms]
        if not any(posted):
            break
        for arm, job, lines in zip(spec.arms, posted, due.objects):
            if (job.n_objects if job is not None else 0) != len(lines):
                raise ValueError(
                    f"experiment {spec.experiment}: round {due.index} of arm {arm.name} has "
                    f"{job.n_objects if job else 0} objects where the allocation replayed from the spec has "
                    f"{len(lines)}; was the spec changed after posting?"
                )
        rounds.append(due)
        jobs.append(posted)
        if any(job is not None and job.completed_at is None for job in posted):
            return AdaptiveHistory(rounds, jobs, None)  # the next round waits for this one
        data = [
            pooled_arm_data(session, spec, i, rounds, jobs, now, caches[i], wages=False) for i in range(len(spec.arms))
        ]
        evidence = [arm_evidence(d, float(spec.deadline_seconds)) for d in data]
        due = allocation_round(spec, n_lines, due.index + 1, evidence)
    return AdaptiveHistory(rounds, jobs, due)


def _manifest_size(spec: PricingExperimentSpec, settings: Any) -> int:
    base = load_job_spec(spec.job, settings=settings)
    return len(read_manifest(base.input_manifest, settings=settings, task_type=base.task_type)[0])


def adaptive_round_due(spec: PricingExperimentSpec, engine: Any, settings: Any = None) -> AllocationRound | None:
    """An adaptive experiment's round to post now (None: the one before runs, or every object is allocated)."""
    with reading(engine) as session:
        return adaptive_history(session, spec, _manifest_size(spec, settings)).next_round


def round_to_submit(spec: PricingExperimentSpec, engine: Any, settings: Any = None) -> AllocationRound:
    """The adaptive allocation's next round: the warm-up first, then a round once the one before is done."""
    n_lines = _manifest_size(spec, settings)
    with reading(engine) as session:
        try:
            history = adaptive_history(session, spec, n_lines)
        except ValueError as error:
            raise SubmitError(str(error)) from error
    if history.next_round is not None:
        return history.next_round
    last = history.rounds[-1] if history.rounds else None
    if last is not None and any(job is not None and job.completed_at is None for job in history.jobs[-1]):
        raise SubmitError(
            f"experiment {spec.experiment}: round {last.index} is still running; post the next round when it is done"
        )
    raise SubmitError(f"experiment {spec.experiment}: every object was allocated; report on it with --report")


# --------------------------------------------------------------------------------------------- results


def known_answers(spec: PricingExperimentSpec, settings: Any = None) -> dict[str, Any]:
    """Data object (`source-ref` or `source`) -> its known answer in the base manifest, where it has one."""
    base = load_job_spec(spec.job, settings=settings)
    lines, _ = read_manifest(base.input_manifest, settings=settings, task_type=base.task_type)
    return {line.source: line.data[spec.truth_attribute] for line in lines if spec.truth_attribute in line.data}


def completion_seconds(items: np.ndarray, submits: np.ndarray, n_objects: int, needed: int) -> np.ndarray:
    """Per object, the time its `needed`-th answer arrived (NaN while it has fewer)."""
    done = np.full(n_objects, np.nan)
    if items.size:
        order = np.lexsort((submits, items))
        items_sorted, submits_sorted = items[order], submits[order]
        first = np.searchsorted(items_sorted, np.arange(n_objects))
        counts = np.bincount(items_sorted, minlength=n_objects)[:n_objects]
        enough = counts >= needed
        done[enough] = submits_sorted[first[enough] + needed - 1]
    return done


def object_workers(items: np.ndarray, workers: np.ndarray, n_objects: int) -> np.ndarray:
    """objects x answers matrix of the worker codes that answered each object (-1 past its answers)."""
    keep = items < n_objects
    items, workers = items[keep], workers[keep]
    order = np.argsort(items, kind="stable")
    items, workers = items[order], workers[order]
    rank = np.arange(items.size) - np.searchsorted(items, items)
    matrix = np.full((n_objects, int(rank.max()) + 1 if rank.size else 0), -1, dtype=np.int64)
    matrix[items, rank] = workers
    return matrix


def arm_data(
    session: Any,
    job: Job,
    arm: str,
    truth_attribute: str,
    now: datetime | None = None,
    codes: dict[str, int] | None = None,
    wages: bool = True,
) -> ArmData:
    """One arm's objects from the broker DB: completion (censored at the job's end, or now while it
    runs), correctness against the manifest's known answers, cost. `codes`: WorkerId -> code shared by
    several jobs (default: the job's own codes)."""
    answers = load_job_answers(session, job)
    workers = answers.workers
    if codes is not None and answers.worker_ids:
        workers = np.array([codes.setdefault(w, len(codes)) for w in answers.worker_ids], dtype=np.int64)[workers]
    n = int(job.n_objects)
    start = job.created_at.timestamp()
    end = (job.completed_at or now or utcnow()).timestamp()
    done = completion_seconds(answers.items, answers.submit, n, job.workers_per_object)
    finished = ~np.isnan(done)
    seconds = np.where(finished, done - start, max(end - start, 0.0))
    truth = _truth(session, job, truth_attribute)[:n]
    consolidated = answers.consolidated[:n]
    correct = np.where((truth >= 0) & (consolidated >= 0), (truth == consolidated).astype(int), -1)
    per_object = np.bincount(answers.items, weights=answers.cost_cents, minlength=n)[:n].astype(float)
    spent = job_money(session, job.id).spent_cents
    # approved money per object; what the answers do not account for (bonuses) is spread in proportion
    scale = spent / per_object.sum() if per_object.sum() > 0 else 0.0
    hourly = _median_wage(session, [job]) if wages else None
    return ArmData(
        arm=arm,
        job=job.name,
        reward_cents=job.reward_cents,
        workers_per_object=job.workers_per_object,
        seconds=seconds,
        finished=finished,
        correct=correct,
        cost_cents=per_object * scale,
        confidence=answers.confidence[:n],
        assignments=int(answers.submit.size),
        observed_seconds=float(seconds.max()) if n else 0.0,  # to the last answer, or to the end while unfinished
        median_hourly_wage_cents=hourly,
        accept_seconds=answers.accept - start,
        object_workers=object_workers(answers.items, workers, n),
        submit_seconds=answers.submit - start,
    )


@dataclass
class ArmCache:
    """Per arm, its workers' codes across rounds and each finished round job's objects, read once."""

    codes: dict[str, int] = field(default_factory=dict)
    jobs: dict[int, ArmData] = field(default_factory=dict)


def pooled_arm_data(
    session: Any,
    spec: PricingExperimentSpec,
    arm_index: int,
    rounds: list[AllocationRound],
    jobs: list[list[Job | None]],
    now: datetime | None = None,
    cache: ArmCache | None = None,
    wages: bool = True,
) -> ArmData:
    """One arm's objects over the adaptive rounds it had a job in, as one arm: completion from each
    object's own posting, the answer times on the clock of the warm-up's posting, workers coded across
    rounds, each object's assignment probability; with several rounds, the answers of all of them are
    consolidated together (as one job of the arm's size would be) before they are judged."""
    arm = spec.arms[arm_index].name
    cache = cache or ArmCache()
    codes = cache.codes
    mine = [(r, row[arm_index]) for r, row in zip(rounds, jobs) if row[arm_index] is not None]
    if not mine:
        return _empty_arm(spec, arm_index)
    start = mine[0][1].created_at.timestamp()
    parts = []
    for r, job in mine:
        data = cache.jobs.get(job.id)
        if data is None:
            data = arm_data(session, job, arm, spec.truth_attribute, now, codes, wages=False)
            if job.completed_at is not None:  # a finished round does not change
                cache.jobs[job.id] = data
        parts.append((r, job, data))
    datas = [d for _, _, d in parts]
    width = max(d.object_workers.shape[1] for d in datas)
    padded = [
        np.pad(d.object_workers, ((0, 0), (0, width - d.object_workers.shape[1])), constant_values=-1) for d in datas
    ]
    offsets = [job.created_at.timestamp() - start for _, job, _ in parts]
    correct = np.concatenate([d.correct for d in datas])
    confidence = np.concatenate([d.confidence for d in datas])
    if len(parts) > 1:
        correct, confidence = _pooled_consolidation(
            session, [job for _, job in mine], codes, spec.truth_attribute, correct, confidence
        )
    first = datas[0]
    return ArmData(
        arm=arm,
        job=first.job,
        reward_cents=first.reward_cents,
        workers_per_object=first.workers_per_object,
        seconds=np.concatenate([d.seconds for d in datas]),
        finished=np.concatenate([d.finished for d in datas]),
        correct=correct,
        cost_cents=np.concatenate([d.cost_cents for d in datas]),
        confidence=confidence,
        assignments=sum(d.assignments for d in datas),
        observed_seconds=float(sum(d.observed_seconds for d in datas)),  # the rounds it ran in, end to end
        median_hourly_wage_cents=_median_wage(session, [job for _, job in mine]) if wages else None,
        accept_seconds=np.concatenate([d.accept_seconds + o for d, o in zip(datas, offsets)]),
        object_workers=np.concatenate(padded),
        submit_seconds=np.concatenate([d.submit_seconds + o for d, o in zip(datas, offsets)]),
        propensity=np.concatenate([np.full(d.seconds.size, r.shares[arm_index]) for (r, _, d) in parts]),
        round_index=np.concatenate([np.full(d.seconds.size, r.index, dtype=np.int64) for (r, _, d) in parts]),
        answer_round=np.concatenate([np.full(d.submit_seconds.size, r.index, dtype=np.int64) for (r, _, d) in parts]),
    )


def _median_wage(session: Any, jobs: list[Job]) -> float | None:
    """The median hourly wage of the workers who answered these jobs (None: no wage known)."""
    wages = [r.hourly_wage_cents for r in worker_report(session, jobs).rows if r.hourly_wage_cents is not None]
    return float(np.median(wages)) if wages else None


def _empty_arm(spec: PricingExperimentSpec, arm_index: int) -> ArmData:
    arm = spec.arms[arm_index]
    empty = np.zeros(0)
    return ArmData(
        arm=arm.name,
        job=arm_job_name(spec.experiment, arm.name),
        reward_cents=int(arm.reward_cents or 0),
        workers_per_object=arm.workers_per_object or 0,
        seconds=empty,
        finished=np.zeros(0, dtype=bool),
        correct=np.zeros(0, dtype=np.int64),
        cost_cents=empty,
        confidence=empty,
        assignments=0,
        observed_seconds=0.0,
    )


def _pooled_consolidation(
    session: Any,
    jobs: list[Job],
    codes: dict[str, int],
    truth_attribute: str,
    correct: np.ndarray,
    confidence: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Correctness and confidence with the rounds' answers consolidated together by the default estimator
    (single-label tasks; otherwise each round's own consolidation stands)."""
    items, workers, chosen, truth, offset = [], [], [], [], 0
    for job in jobs:
        answers = load_job_answers(session, job)
        if answers.multilabel:
            return correct, confidence
        usable = answers.usable
        shared = np.array([codes[w] for w in answers.worker_ids], dtype=np.int64)
        items.append(answers.items[usable] + offset)
        workers.append(shared[answers.workers[usable]] if answers.worker_ids else answers.workers[usable])
        chosen.append(answers.chosen[usable])
        truth.append(_truth(session, job, truth_attribute)[: job.n_objects])
        offset += int(job.n_objects)
    flat = np.concatenate(chosen)
    arrays = AnswerArrays(np.concatenate(items), np.concatenate(workers), [[int(c)] for c in flat], list(codes))
    result = consolidate_answers(
        arrays, offset, len(jobs[0].labels), multilabel=False, workers_per_object=jobs[0].workers_per_object
    )
    labels = np.full(offset, -1, dtype=np.int64)
    pooled_confidence = np.full(offset, np.nan)
    if result.labels:
        index = np.fromiter(result.labels, dtype=np.int64, count=len(result.labels))
        labels[index] = np.fromiter(result.labels.values(), dtype=np.int64, count=index.size)
        pooled_confidence[index] = np.fromiter(result.confidences.values(), dtype=float, count=index.size)
    known = np.concatenate(truth)
    return np.where((known >= 0) & (labels >= 0), (known == labels).astype(int), -1), pooled_confidence


def _truth(session: Any, job: Job, attribute: str) -> np.ndarray:
    labels = {label: i for i, label in enumerate(job.labels)}
    rows = [(o.index, o.data_json) for o in object_results(session, job.id)]
    truth = np.full(max([job.n_objects, *(r[0] + 1 for r in rows)]), -1, dtype=np.int64)
    for index, data_json in rows:
        value = json.loads(data_json).get(attribute)
        if isinstance(value, str) and value in labels:
            truth[index] = labels[value]
    return truth


def experiment_data(
    session: Any, spec: PricingExperimentSpec, now: datetime | None = None, arms: list[str] | None = None
) -> list[ArmData]:
    """Every arm's objects (or those of `arms`; an arm not posted yet is an error naming it); with
    allocation: thompson, each arm's objects over the rounds posted so far."""
    if spec.allocation == "thompson":
        history = adaptive_history(session, spec, _manifest_size(spec, None), now)
        if not history.rounds:
            raise ValueError(f"experiment {spec.experiment}: no round posted yet (not submitted?)")
        return [pooled_arm_data(session, spec, i, history.rounds, history.jobs, now) for i in range(len(spec.arms))]
    data = []
    for arm in spec.arms:
        if arms is not None and arm.name not in arms:
            continue
        name = arm_job_name(spec.experiment, arm.name)
        job = job_named(session, name)
        if job is None and spec.design == "sequential" and arms is None and data:
            break  # a sequential experiment under way: the arms posted so far
        if job is None:
            raise ValueError(f"experiment {spec.experiment}: arm {arm.name} has no job {name!r} (not submitted?)")
        data.append(arm_data(session, job, arm.name, spec.truth_attribute, now))
    return data


def allocation_record(spec: PricingExperimentSpec, data: list[ArmData]) -> dict[str, Any] | None:
    """How an adaptive experiment's objects went to the arms, round by round (None: fixed allocation)."""
    if spec.allocation != "thompson":
        return None
    n_rounds = max((int(d.round_index.max()) + 1 for d in data if d.round_index.size), default=0)
    rounds = []
    for index in range(n_rounds):
        mine = [d.round_index == index for d in data]
        rounds.append(
            {
                "round": index,
                "objects": {d.arm: int(m.sum()) for d, m in zip(data, mine)},
                # the probability each of the round's objects had of going to the arm (known where it got any)
                "shares": {d.arm: (float(d.propensity[m][0]) if m.any() else None) for d, m in zip(data, mine)},
            }
        )
    return {
        "method": "thompson",
        "warmup_objects": spec.warmup,
        "batch_objects": spec.batch,
        "min_share": spec.floor,
        "objects": {d.arm: int(d.seconds.size) for d in data},
        "rounds": rounds,
    }


def warmup_data(data: list[ArmData]) -> list[ArmData]:
    """The arms' objects of the warm-up round alone (all arms side by side with equal objects)."""
    return [
        dataclasses.replace(
            d,
            seconds=d.seconds[first],
            finished=d.finished[first],
            correct=d.correct[first],
            cost_cents=d.cost_cents[first],
            confidence=d.confidence[first],
            object_workers=d.object_workers[first] if d.object_workers.shape[0] == first.size else d.object_workers,
            observed_seconds=float(d.seconds[first].max()) if first.any() else 0.0,
            accept_seconds=d.accept_seconds[d.answer_round == 0],
            submit_seconds=d.submit_seconds[d.answer_round == 0],
            propensity=d.propensity[first],
            round_index=d.round_index[first],
            answer_round=d.answer_round[d.answer_round == 0],
        )
        for d in data
        for first in [d.round_index == 0]
    ]


def analyse_experiment(
    spec: PricingExperimentSpec, data: list[ArmData], method: IntervalMethod = INTERVALS
) -> ExperimentAnalysis:
    """Estimates, intervals, tests, recommendation, power and the completion-time model of the arms."""
    record = allocation_record(spec, data)
    return analyse(
        data,
        allocation_record=record,
        timing_data=warmup_data(data) if record else None,
        experiment=spec.experiment,
        design=spec.design,
        quality_target=spec.quality_target,
        deadline_seconds=float(spec.deadline_seconds),
        smallest_difference=spec.smallest_difference,
        seed=spec.seed,
        predict_objects=spec.predict_objects or (max(int(d.seconds.size) for d in data) if record and data else None),
        predict_probability=spec.predict_probability,
        method=method,
    )


def experiment_results(session: Any, spec: PricingExperimentSpec, now: datetime | None = None) -> ExperimentAnalysis:
    """The experiment's analysis from the broker DB."""
    return analyse_experiment(spec, experiment_data(session, spec, now))
