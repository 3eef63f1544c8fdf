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
) -> CostSummary:
    """Each human-labeled object is one HIT of `workers_per_object` assignments with MTurk's fees;
    the `validation_objects` among them have `validation_workers_per_object` assignments instead."""
    per_object = hit_cost_cents(reward_cents, workers_per_object, masters)
    validation_workers = validation_workers_per_object or workers_per_object
    per_validation_object = hit_cost_cents(reward_cents, validation_workers, masters)
    return CostSummary(
        objects=objects,
        human_objects=human_objects,
        machine_objects=machine_objects,
        cost_cents=(human_objects - validation_objects) * per_object + validation_objects * per_validation_object,
        all_human_cost_cents=objects * per_object,
    )


def iteration_table(iterations: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per iteration (IterationResult.summary()) for `broker status` and the job report."""
    return [result.summary() for result in iterations]


def iteration_message(row: dict[str, Any]) -> str:
    """One loop iteration in words, for the event log and `broker status`."""
    accuracy = "-" if row["validation_accuracy"] is None else f"{row['validation_accuracy']:.3f}"
    threshold = "-" if row["threshold"] is None else f"{row['threshold']:.3f}"
    return (
        f"iteration {row['iteration']}: {row['human_count']} human, {row['machine_count']} machine "
        f"(+{row['new_machine_labels']}), validation accuracy {accuracy}, threshold {threshold}"
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
    for row in summary["iterations"]:
        rows.append((f"  iteration {row['iteration']}", iteration_message(row).split(": ", 1)[1]))
    if summary.get("model_uri"):
        rows.append(("auto-label model", summary["model_uri"]))
    return rows
