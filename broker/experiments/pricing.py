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
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from broker.domain.clock import utcnow
from broker.domain.money import MoneyError, usd_to_cents
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
    load_job_spec,
    validation_issues,
)
from broker.stages.submit import submit_job
from broker.store import Job, reading
from broker.store.jobs import job_money, job_named
from broker.store.views import existing_job_names, load_job_answers, object_results

EXAMPLE_SPEC = "config/examples/pricing-experiment.yaml"


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


def plan_arms(n_objects: int, n_arms: int, seed: int, per_arm: int | None = None) -> list[list[int]]:
    """Manifest line indices per arm: a seeded shuffle dealt round-robin (arms differ by at most one)."""
    order = list(range(n_objects))
    random.Random(seed).shuffle(order)
    if per_arm is not None:
        if per_arm * n_arms > n_objects:
            raise ValueError(
                f"objects_per_arm {per_arm} x {n_arms} arms needs {per_arm * n_arms} objects; "
                f"the manifest has {n_objects}"
            )
        order = order[: per_arm * n_arms]
    return [sorted(order[i::n_arms]) for i in range(n_arms)]


def arm_job_name(experiment: str, arm: str) -> str:
    return f"{experiment}-{arm}"


BASE_BUDGET_FIELDS = ("budget_usd", "budget_cents")


def write_arm_jobs(
    spec: PricingExperimentSpec, folder: Path, settings: Any = None, overrides: dict[str, Any] | None = None
) -> list[Path]:
    """One manifest and one job spec per arm in `folder` (the base job's YAML with the arm's reward,
    workers and budget; `overrides` replace base fields, e.g. a simulation's marketplace)."""
    base = load_job_spec(spec.job, settings=settings)
    raw = yaml.safe_load(Path(spec.job).read_text(encoding="utf-8"))
    budgeted = [key for key in BASE_BUDGET_FIELDS if key in raw]
    if budgeted:
        raise SubmitError(
            f"{spec.job}: {budgeted[0]} caps one job, and each arm is its own job: remove it from the base job "
            f"and give each arm its own budget_usd in the experiment spec (see {EXAMPLE_SPEC})"
        )
    lines, _ = read_manifest(base.input_manifest, settings=settings, task_type=base.task_type)
    plan = plan_arms(len(lines), len(spec.arms), spec.seed, spec.objects_per_arm)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for arm, indices in zip(spec.arms, plan):
        manifest = folder / f"{arm.name}.manifest"
        manifest.write_text(
            "".join(json.dumps(lines[i].data, ensure_ascii=False) + "\n" for i in indices), encoding="utf-8"
        )
        job = {key: value for key, value in raw.items() if key not in ("reward", "reward_cents")}
        job.update(
            job_name=arm_job_name(spec.experiment, arm.name),
            input_manifest=str(manifest),
            reward_cents=arm.reward_cents,
            output=str(Path(base.output) / spec.experiment / arm.name),
            workers_per_object=arm.workers_per_object or base.workers_per_object,
        )
        if arm.budget_cents is not None:
            job["budget_cents"] = arm.budget_cents
        job.update(overrides or {})
        if base.template:
            job["template"] = base.template
        if isinstance(raw.get("label_category_config"), str):
            job["label_category_config"] = str(Path(spec.job).parent / raw["label_category_config"])
        path = folder / f"{arm.name}.yaml"
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
) -> list[int]:
    """Submit the arms due (all, or the next one of a sequential design; every arm's job spec is
    written and validated before any is submitted); returns the job ids."""
    due = arms if arms is not None else arms_to_submit(spec, engine)
    paths = write_arm_jobs(spec, folder, settings, overrides)
    for path in paths:
        load_job_spec(path, settings=settings)  # every arm valid before any is submitted
    chosen = [path for arm, path in zip(spec.arms, paths) if arm.name in due]
    return [submit_job(path, engine, settings).job_id for path in chosen]


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


def arm_data(session: Any, job: Job, arm: str, truth_attribute: str, now: datetime | None = None) -> ArmData:
    """One arm's objects from the broker DB: completion (censored at the job's end, or now while it
    runs), correctness against the manifest's known answers, cost."""
    answers = load_job_answers(session, job)
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
    wages = [r.hourly_wage_cents for r in worker_report(session, [job]).rows if r.hourly_wage_cents is not None]
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
        median_hourly_wage_cents=float(np.median(wages)) if wages else None,
        accept_seconds=answers.accept - start,
        object_workers=object_workers(answers.items, answers.workers, n),
        submit_seconds=answers.submit - start,
    )


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
    """Every arm's objects (or those of `arms`; an arm not posted yet is an error naming it)."""
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


def analyse_experiment(
    spec: PricingExperimentSpec, data: list[ArmData], method: IntervalMethod = INTERVALS
) -> ExperimentAnalysis:
    """Estimates, intervals, tests, recommendation, power and the completion-time model of the arms."""
    return analyse(
        data,
        experiment=spec.experiment,
        design=spec.design,
        quality_target=spec.quality_target,
        deadline_seconds=float(spec.deadline_seconds),
        smallest_difference=spec.smallest_difference,
        seed=spec.seed,
        predict_objects=spec.predict_objects,
        predict_probability=spec.predict_probability,
        method=method,
    )


def experiment_results(session: Any, spec: PricingExperimentSpec, now: datetime | None = None) -> ExperimentAnalysis:
    """The experiment's analysis from the broker DB."""
    return analyse_experiment(spec, experiment_data(session, spec, now))
