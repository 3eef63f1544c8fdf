"""Pricing experiments: the same kind of objects posted in arms that differ in reward (and workers
per object), randomised; per arm speed, quality and cost; the cheapest arm that meets a quality
target and a deadline is recommended.

An experiment spec names a base job spec and the arms. `plan_arms` shuffles the base manifest
with the seed and deals its objects to the arms; `submit_experiment` writes one manifest and one
job spec per arm and submits them as ordinary jobs named `<experiment>-<arm>`, so the daemon
publishes them side by side (each arm is its own HIT type: workers choose between them, which is
what makes the comparison fair). `arm_results` reads the finished arms from the broker DB.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from broker.domain.money import MoneyError, usd_to_cents
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


class Arm(StrictModel):
    name: str = Field(default="", pattern=r"^[a-zA-Z0-9-]{0,20}$")
    reward: UsdText = Field(default=None, exclude=True)
    reward_cents: int | None = Field(default=None, ge=1)
    workers_per_object: int | None = Field(default=None, ge=1, le=9)

    @model_validator(mode="after")
    def _reward(self) -> Arm:
        if self.reward is not None:
            try:
                self.reward_cents = usd_to_cents(self.reward)
            except MoneyError as error:
                raise ValueError(f"reward: {error}") from error
            self.reward = None
        if self.reward_cents is None or self.reward_cents < 1:
            raise ValueError('reward: required, e.g. reward: "0.05"')
        return self


class PricingExperimentSpec(StrictModel):
    """`broker experiment pricing spec.yaml`: arms over one base job."""

    experiment: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,39}$")
    job: str = Field(min_length=1, description="the base job spec (task, labels, manifest, texts)")
    arms: list[Arm] = Field(min_length=2, max_length=10)
    objects_per_arm: int | None = Field(default=None, ge=1)
    seed: int = 0
    quality_target: float = Field(default=0.9, ge=0.0, le=1.0)
    deadline_seconds: Seconds = Field(default=86_400, ge=1)
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
        raise SpecError(validation_issues(error, document)) from error


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


def write_arm_jobs(spec: PricingExperimentSpec, folder: Path, settings: Any = None) -> list[Path]:
    """One manifest and one job spec per arm in `folder` (based on the base job's YAML)."""
    base = load_job_spec(spec.job, settings=settings)
    lines, _ = read_manifest(base.input_manifest, settings=settings, task_type=base.task_type)
    plan = plan_arms(len(lines), len(spec.arms), spec.seed, spec.objects_per_arm)
    raw = yaml.safe_load(Path(spec.job).read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for arm, indices in zip(spec.arms, plan):
        manifest = folder / f"{arm.name}.manifest"
        manifest.write_text(
            "".join(json.dumps(lines[i].data, ensure_ascii=False) + "\n" for i in indices), encoding="utf-8"
        )
        job = {
            key: value
            for key, value in raw.items()
            if key not in ("reward", "reward_cents", "budget_usd", "budget_cents")
        }
        job.update(
            job_name=arm_job_name(spec.experiment, arm.name),
            input_manifest=str(manifest),
            reward_cents=arm.reward_cents,
            output=str(Path(base.output) / spec.experiment / arm.name),
            workers_per_object=arm.workers_per_object or base.workers_per_object,
        )
        if base.template:
            job["template"] = base.template
        if isinstance(raw.get("label_category_config"), str):
            job["label_category_config"] = str(Path(spec.job).parent / raw["label_category_config"])
        path = folder / f"{arm.name}.yaml"
        path.write_text(yaml.safe_dump(job, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def submit_experiment(spec: PricingExperimentSpec, folder: Path, engine: Any, settings: Any = None) -> list[int]:
    """Submit every arm as a job (all or none are validated first); returns the job ids."""
    names = [arm_job_name(spec.experiment, arm.name) for arm in spec.arms]
    with reading(engine) as session:
        taken = existing_job_names(session, names)
    if taken:
        raise SubmitError(
            f"experiment {spec.experiment}: job(s) {', '.join(taken)} already exist; give the experiment a new name"
        )
    paths = write_arm_jobs(spec, folder, settings)
    for path in paths:
        load_job_spec(path, settings=settings)  # every arm valid before any is submitted
    return [submit_job(path, engine, settings).job_id for path in paths]


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ArmResult:
    arm: str
    job: str
    reward_cents: int
    workers_per_object: int
    objects: int
    completed: int
    seconds_to_half: float | None
    seconds_to_all: float | None
    assignments_per_hour: float | None
    accuracy: float | None  # against known answers, else mean EM confidence
    accuracy_source: str  # "gold" or "confidence"
    spent_cents: int
    cost_per_object_cents: float | None
    cost_per_correct_cents: float | None
    median_hourly_wage_cents: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def completion_times(items: np.ndarray, submits: np.ndarray, n_objects: int, needed: int) -> np.ndarray:
    """Per object, the time its `needed`-th answer arrived (NaN while short), sorted ascending."""
    done = np.full(n_objects, np.nan)
    if items.size:
        order = np.lexsort((submits, items))
        items_sorted, submits_sorted = items[order], submits[order]
        first = np.searchsorted(items_sorted, np.arange(n_objects))
        counts = np.bincount(items_sorted, minlength=n_objects)
        enough = counts >= needed
        done[enough] = submits_sorted[first[enough] + needed - 1]
    return np.sort(done[~np.isnan(done)])


def time_to_fraction(done: np.ndarray, n_objects: int, fraction: float, start: float) -> float | None:
    need = max(1, math.ceil(fraction * n_objects - 1e-9))
    return float(done[need - 1] - start) if done.size >= need else None


def arm_result(session: Any, job: Job, arm: str, truth_attribute: str) -> ArmResult:
    answers = load_job_answers(session, job)
    n = int(job.n_objects)
    start = job.created_at.timestamp()
    done = completion_times(answers.items, answers.submit, n, job.workers_per_object)
    last = float(np.nanmax(answers.submit)) if answers.submit.size else None
    hours = (last - start) / 3600 if last is not None and last > start else None
    truth = _truth(session, job, truth_attribute)
    labelled = (answers.consolidated >= 0) & (truth >= 0)
    if labelled.any():
        accuracy, source = float((answers.consolidated[labelled] == truth[labelled]).mean()), "gold"
    else:
        known = answers.confidence[~np.isnan(answers.confidence)]
        accuracy, source = (float(known.mean()) if known.size else None), "confidence"
    spent = job_money(session, job.id).spent_cents
    completed = int(done.size)
    wages = [r.hourly_wage_cents for r in worker_report(session, [job]).rows if r.hourly_wage_cents is not None]
    correct = accuracy * completed if accuracy is not None else 0
    return ArmResult(
        arm=arm,
        job=job.name,
        reward_cents=job.reward_cents,
        workers_per_object=job.workers_per_object,
        objects=n,
        completed=completed,
        seconds_to_half=time_to_fraction(done, n, 0.5, start),
        seconds_to_all=time_to_fraction(done, n, 1.0, start),
        assignments_per_hour=answers.submit.size / hours if hours else None,
        accuracy=accuracy,
        accuracy_source=source,
        spent_cents=spent,
        cost_per_object_cents=spent / completed if completed else None,
        cost_per_correct_cents=spent / correct if correct else None,
        median_hourly_wage_cents=float(np.median(wages)) if wages else None,
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


def experiment_results(session: Any, spec: PricingExperimentSpec) -> list[ArmResult]:
    results = []
    for arm in spec.arms:
        name = arm_job_name(spec.experiment, arm.name)
        job = job_named(session, name)
        if job is None:
            raise ValueError(f"experiment {spec.experiment}: arm {arm.name} has no job {name!r} (not submitted?)")
        results.append(arm_result(session, job, arm.name, spec.truth_attribute))
    return results


@dataclass(frozen=True)
class Recommendation:
    arm: str | None
    reason: str


def recommend(results: list[ArmResult], quality_target: float, deadline_seconds: float) -> Recommendation:
    """The cheapest arm per object whose accuracy meets the target and that finished by the deadline."""

    def fits(r: ArmResult) -> bool:
        return (
            r.accuracy is not None
            and r.accuracy >= quality_target
            and r.seconds_to_all is not None
            and r.seconds_to_all <= deadline_seconds
            and r.cost_per_object_cents is not None
        )

    passing = sorted((r for r in results if fits(r)), key=lambda r: (r.cost_per_object_cents, r.seconds_to_all))
    if not passing:
        return Recommendation(
            None,
            f"no arm reached accuracy {quality_target:.0%} and finished within "
            f"{deadline_seconds:.0f} s; raise the reward or relax the target",
        )
    best = passing[0]
    return Recommendation(
        best.arm,
        f"cheapest arm at ${best.cost_per_object_cents / 100:.4f} per object with "
        f"accuracy {best.accuracy:.1%} ({best.accuracy_source}), all done in "
        f"{best.seconds_to_all:.0f} s (deadline {deadline_seconds:.0f} s)",
    )
