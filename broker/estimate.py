"""What a job will cost before it is posted: rewards, MTurk's fees line by line, total, implied wage.

Everything is integer cents through broker.domain.money, so the estimate is exactly what the publish
tick commits (one HIT per object with `workers_per_object` assignments, all approved). Gold
objects mixed in by quality control (broker.gold) are paid like any other object and are
counted here too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from broker.completion import FittedCompletion, predict_finish
from broker.domain.money import (
    BASE_FEE_PERCENT,
    LARGE_HIT_EXTRA_PERCENT,
    LARGE_HIT_MIN_ASSIGNMENTS,
    MASTERS_EXTRA_PERCENT,
    cents_to_usd,
    fee_cents,
)
from broker.gold import gold_object_count
from broker.manifest import ManifestError, line_check, read_manifest
from broker.spec import Issue
from broker.validate import hits_to_post


@dataclass(frozen=True)
class CostEstimate:
    """The cost of a job, all money in integer cents; `hourly_wage_cents` is None without a work time."""

    objects: int
    gold_objects: int
    workers_per_object: int
    assignments: int
    reward_cents: int  # per assignment
    fee_percent: int  # total commission rate of one assignment
    base_fee_cents: int  # per assignment: the 20% (minimum $0.01)
    large_hit_fee_cents: int  # per assignment: +20% when a HIT has 10+ assignments
    masters_fee_cents: int  # per assignment: +5% when Masters are required
    fee_cents: int  # per assignment, all fees (rounded once, as MTurk does)
    total_reward_cents: int
    total_fee_cents: int
    total_cents: int
    budget_cents: int | None
    objects_within_budget: int | None  # how many objects the budget pays for (None without budget)
    work_seconds: float | None
    hourly_wage_cents: int | None  # reward per hour of work, rounded half up

    def as_dict(self) -> dict[str, Any]:
        derived = {"within_budget": self.within_budget, "effective_fee_percent": self.effective_fee_percent}
        return {**asdict(self), **derived}

    @property
    def within_budget(self) -> bool:
        return self.budget_cents is None or self.total_cents <= self.budget_cents

    @property
    def effective_fee_percent(self) -> float:
        """The fee as a share of the reward: above the nominal rate when the $0.01 minimum applies."""
        return 100.0 * self.fee_cents / self.reward_cents if self.reward_cents else 0.0

    @property
    def fee_text(self) -> str:
        """ "$0.01 (20%)", or "$0.01 (25%: MTurk's $0.01 minimum)" for a small reward."""
        effective = self.effective_fee_percent
        if round(effective, 1) <= self.fee_percent:
            return f"${cents_to_usd(self.fee_cents)} ({self.fee_percent}%)"
        return f"${cents_to_usd(self.fee_cents)} ({effective:.0f}% of the reward: MTurk's $0.01 minimum fee applies)"


def hourly_wage_cents(reward_cents: int, work_seconds: float) -> int:
    """Reward per hour for an assignment taking `work_seconds`, in cents rounded half up."""
    if work_seconds <= 0:
        raise ValueError("work time must be positive")
    value = Decimal(reward_cents) * 3600 / Decimal(str(work_seconds))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def estimate_cost(
    objects: int,
    reward_cents: int,
    workers_per_object: int,
    *,
    masters: bool = False,
    budget_cents: int | None = None,
    work_seconds: float | None = None,
    gold_objects: int = 0,
) -> CostEstimate:
    """The cost of posting `objects` (+ `gold_objects`) as HITs of `workers_per_object` assignments."""
    if objects < 0 or gold_objects < 0:
        raise ValueError("object counts cannot be negative")
    fee = fee_cents(reward_cents, workers_per_object, masters)
    base = fee_cents(reward_cents, 1, False)
    with_large = fee_cents(reward_cents, workers_per_object, False)
    large = with_large - base
    masters_part = fee - with_large
    percent = (
        BASE_FEE_PERCENT
        + (LARGE_HIT_EXTRA_PERCENT if workers_per_object >= LARGE_HIT_MIN_ASSIGNMENTS else 0)
        + (MASTERS_EXTRA_PERCENT if masters else 0)
    )
    total_objects = objects + gold_objects
    assignments = total_objects * workers_per_object
    per_object = workers_per_object * (reward_cents + fee)
    affordable = None
    if budget_cents is not None:
        affordable = min(total_objects, budget_cents // per_object) if per_object else total_objects
    return CostEstimate(
        objects=objects,
        gold_objects=gold_objects,
        workers_per_object=workers_per_object,
        assignments=assignments,
        reward_cents=reward_cents,
        fee_percent=percent,
        base_fee_cents=base,
        large_hit_fee_cents=large,
        masters_fee_cents=masters_part,
        fee_cents=fee,
        total_reward_cents=assignments * reward_cents,
        total_fee_cents=assignments * fee,
        total_cents=assignments * (reward_cents + fee),
        budget_cents=budget_cents,
        objects_within_budget=affordable,
        work_seconds=work_seconds,
        hourly_wage_cents=hourly_wage_cents(reward_cents, work_seconds) if work_seconds else None,
    )


def estimate_spec(
    spec: Any, objects: int, *, work_seconds: float | None = None, gold_objects: int | None = None
) -> CostEstimate:
    """The estimate of a validated JobSpec with `objects` data objects in its manifest."""
    quality = getattr(spec, "quality", None)
    if gold_objects is None:
        gold = getattr(quality, "gold", None) if quality is not None else None
        gold_objects = gold_object_count(objects, gold.rate) if gold is not None else 0
    return estimate_cost(
        objects,
        spec.reward_cents,
        spec.workers_per_object,
        masters=spec.masters,
        budget_cents=spec.budget_cents,
        work_seconds=work_seconds,
        gold_objects=gold_objects,
    )


def count_manifest_objects(spec: Any, settings: Any = None) -> int:
    """HITs the spec's input manifest will post (ManifestError names any bad line): lines an earlier job
    already labeled under the same attribute (job chaining) and lines a pre-annotation hook keeps from
    people are not posted; a verification job posts one HIT per batch (see validate.hits_to_post)."""
    if spec.streaming:
        where = spec.spec_path or spec.job_name
        problem = "a streaming job has no manifest to count: give --objects N"
        raise ManifestError([Issue(where, None, "input", problem)])
    lines, _ = read_manifest(spec.input_manifest, settings=settings, task_type=spec.task_type)
    check = line_check(spec, lines)
    if check.issues:
        raise ManifestError(check.issues)
    return hits_to_post(spec, lines, check.not_for_people)


def estimate_rows(estimate: CostEstimate) -> list[tuple[str, str]]:
    """(item, amount) lines for the terminal: what is paid, what MTurk takes, what it comes to."""

    def usd(cents: int) -> str:
        return "$" + cents_to_usd(cents)

    e = estimate
    objects = f"{e.objects}" + (f" + {e.gold_objects} gold" if e.gold_objects else "")
    rows = [
        ("objects", objects),
        ("assignments", f"{e.assignments} ({e.workers_per_object} per object)"),
        ("reward per assignment", usd(e.reward_cents)),
        ("MTurk fee per assignment", e.fee_text),
        ("  base fee (20%, min $0.01)", usd(e.base_fee_cents)),
    ]
    if e.large_hit_fee_cents:
        rows.append(("  10+ assignments surcharge (20%)", usd(e.large_hit_fee_cents)))
    if e.masters_fee_cents:
        rows.append(("  Masters surcharge (5%)", usd(e.masters_fee_cents)))
    rows += [
        ("rewards", usd(e.total_reward_cents)),
        ("fees", usd(e.total_fee_cents)),
        ("total", usd(e.total_cents)),
    ]
    if e.budget_cents is not None:
        verdict = "within budget" if e.within_budget else f"OVER budget: pays for {e.objects_within_budget} objects"
        rows.append(("budget", f"{usd(e.budget_cents)} ({verdict})"))
    if e.hourly_wage_cents is not None:
        rows.append(("hourly wage", f"{usd(e.hourly_wage_cents)}/h at {e.work_seconds:g} s per assignment"))
    return rows


@dataclass(frozen=True)
class CompletionEstimate:
    """When the job's assignments would be done, by a pricing experiment's fitted completion model."""

    source: str  # where the model came from
    reward_cents: int
    assignments: int
    expected_seconds: float  # per assignment, in the model's pay per expected second
    median_seconds: float  # after work starts
    seconds_ci: list[float]  # 95%
    lifetime_seconds: float  # the HITs' lifetime
    probability_within_lifetime: float
    rewards_tried: list[int]
    extrapolated: bool  # the reward is outside those the model was fitted on

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_completion(
    fitted: FittedCompletion,
    source: str,
    *,
    reward_cents: int,
    objects: int,
    workers_per_object: int,
    lifetime_seconds: float,
    work_seconds: float | None = None,
) -> CompletionEstimate:
    """The time to finish `objects` x `workers_per_object` assignments at the reward, with its interval and
    the chance to finish within the HITs' lifetime (`work_seconds` overrides the model's work time: a
    longer task pays less per second at the same reward)."""
    expected = work_seconds or fitted.expected_seconds
    prediction = predict_finish(
        fitted.model, reward_cents, expected, max(objects, 1), workers_per_object, lifetime_seconds
    )
    tried = fitted.rewards_tried
    return CompletionEstimate(
        source=source,
        reward_cents=reward_cents,
        assignments=objects * workers_per_object,
        expected_seconds=round(expected, 2),
        median_seconds=prediction.median_seconds,
        seconds_ci=prediction.seconds_ci,
        lifetime_seconds=lifetime_seconds,
        probability_within_lifetime=prediction.probability_by_deadline,
        rewards_tried=tried,
        extrapolated=bool(tried) and not min(tried) <= reward_cents <= max(tried),
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def completion_rows(estimate: CompletionEstimate) -> list[tuple[str, str]]:
    e = estimate
    low, high = e.seconds_ci
    note = f" (extrapolated: the experiment tried {min(e.rewards_tried)}-{max(e.rewards_tried)} cents)"
    return [
        (
            "time to finish",
            f"{_duration(e.median_seconds)} (95%: {_duration(low)}-{_duration(high)})"
            + (note if e.extrapolated else ""),
        ),
        ("  within the HITs' lifetime", f"{e.probability_within_lifetime:.0%} ({_duration(e.lifetime_seconds)})"),
        ("  model", f"{e.source}, {e.expected_seconds:g} s per assignment"),
    ]
