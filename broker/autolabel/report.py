"""What automated labeling saved: money against labeling every object by the crowd, and per-iteration figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from broker.domain.money import hit_cost_cents


@dataclass(frozen=True)
class CostSummary:
    """Crowd cost of the job as run and as an all-human job, in integer cents (model compute is
    local and not charged)."""

    objects: int
    human_objects: int
    machine_objects: int
    cost_cents: int
    all_human_cost_cents: int

    @property
    def saved_cents(self) -> int:
        return self.all_human_cost_cents - self.cost_cents

    @property
    def saved_fraction(self) -> float:
        return self.saved_cents / self.all_human_cost_cents if self.all_human_cost_cents else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saved_cents": self.saved_cents, "saved_fraction": round(self.saved_fraction, 4)}


def cost_summary(
    objects: int,
    human_objects: int,
    machine_objects: int,
    reward_cents: int,
    workers_per_object: int,
    masters: bool = False,
    validation_objects: int = 0,
    validation_workers_per_object: int | None = None,
    asked_again: int = 0,
    answers_again: int = 0,
) -> CostSummary:
    """Each human-labeled object is one HIT of `workers_per_object` assignments with MTurk's fees;
    the `validation_objects` among them have `validation_workers_per_object` assignments instead;
    the `asked_again` objects (disputed evidence) one more HIT of `answers_again` assignments each."""
    per_object = hit_cost_cents(reward_cents, workers_per_object, masters)
    validation_workers = validation_workers_per_object or workers_per_object
    per_validation_object = hit_cost_cents(reward_cents, validation_workers, masters)
    return CostSummary(
        objects=objects,
        human_objects=human_objects,
        machine_objects=machine_objects,
        cost_cents=(human_objects - validation_objects) * per_object
        + validation_objects * per_validation_object
        + (asked_again * hit_cost_cents(reward_cents, answers_again, masters) if asked_again and answers_again else 0),
        all_human_cost_cents=objects * per_object,
    )


def iteration_table(iterations: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per iteration (IterationResult.summary()) for `broker status` and the job report."""
    return [result.summary() for result in iterations]


def iteration_message(row: dict[str, Any]) -> str:
    """One loop iteration in words, for the event log, `broker status` and the job report: what it
    labeled, and the test behind it (its level, the threshold, the evidence and the bound)."""
    accuracy = "-" if row["validation_accuracy"] is None else f"{row['validation_accuracy']:.3f}"
    return (
        f"iteration {row['iteration']}: {row['human_count']} human, {row['machine_count']} machine "
        f"(+{row['new_machine_labels']}), validation accuracy {accuracy}; {test_message(row)}"
    )


def test_message(row: dict[str, Any]) -> str:
    """Why this iteration machine-labeled what it did (or nothing)."""
    change = row.get("label_change")
    level = row.get("level")
    if row.get("gated"):
        return (
            f"not tested at {level:.2%}: judged out-of-fold on {row.get('n_cross_fit', 0)} first-batch objects, "
            "the model would not pass"
        )
    if level is None:
        if row["threshold"] is None and row.get("n_train") and not row["n_validation"] + row.get("n_cross_fit", 0):
            return "not tested: no validation object left to judge it on"
        if row["threshold"] is None and change is not None and row.get("n_train"):
            return f"not tested: the model changed {change:.1%} of the job's labels since the last one"
        if row["threshold"] is None:
            return "not tested: " + ("the first model" if row.get("n_train") else "no model yet")
        return f"threshold {row['threshold']:.3f}, lower bound {row['threshold_lower_bound']:.3f}"  # older states
    if row["threshold"] is None:
        return f"tested at {level:.2%}: no threshold reaches the target"
    accuracy = row.get("evidence_accuracy")
    evidence = f"{row.get('evidence', 0)} validation objects" + (
        "" if accuracy is None else f" (estimated {accuracy:.1%} right)"
    )
    return (
        f"tested at {level:.2%}: threshold {row['threshold']:.3f} on {evidence}, "
        f"lower bound {row['threshold_lower_bound']:.1%}"
    )


def guarantee(config: dict[str, Any]) -> str:
    """The job's promise on its machine labels, in one sentence."""
    target, level = config.get("target_accuracy", 0.95), config.get("confidence_level", 0.95)
    if config.get("error_budget", "per-iteration") == "per-iteration":  # older states: tested per iteration
        return (
            f"each iteration's machine labels reach {target:.0%} accuracy with {level:.0%} confidence "
            "(per iteration, not for the whole job)"
        )
    return (
        f"with {level:.0%} confidence, at least {target:.0%} of all the job's machine labels are right "
        "(one error budget shared by every iteration's test)"
    )


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) rows of an autolabel_summary (broker.store.autolabel) for the CLI tables."""
    if "cost" not in summary:
        return [("auto-label", f"turned off: {summary.get('error') or summary.get('reason')}")]
    cost = summary["cost"]
    state = f"done ({summary['reason']})" if summary["done"] else "running"
    rows = [
        (
            "auto-label",
            f"{state}: {summary['human_objects']} objects to the crowd "
            f"({summary['validation_objects']} validation), "
            f"{summary['machine_labeled']} machine-labeled, "
            f"{summary['held']} held",
        ),
        (
            "auto-label saving" + ("" if summary["done"] else " so far"),
            f"{cost['saved_fraction']:.1%} ({cost['saved_cents']} of {cost['all_human_cost_cents']} cents all-human)",
        ),
    ]
    if summary.get("config"):
        rows.append(("auto-label promise", guarantee(summary["config"])))
    for row in summary["iterations"]:
        rows.append((f"  iteration {row['iteration']}", iteration_message(row).split(": ", 1)[1]))
    if summary.get("model_uri"):
        rows.append(("auto-label model", summary["model_uri"]))
    return rows
