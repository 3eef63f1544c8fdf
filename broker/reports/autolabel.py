"""An auto_label job's figures for `broker status` and the job report: iterations, machine labels, money saved."""

from __future__ import annotations

import json
from typing import Any

from broker.autolabel.report import cost_summary
from broker.domain.lifecycle import ObjectStatus
from broker.stages.autolabel import iteration_message
from broker.store import Job
from broker.store.views import autolabel_run, object_counts_by_status


def autolabel_summary(session: Any, job: Job) -> dict[str, Any] | None:
    """Per-iteration figures and money saved (None: the job has no auto_label)."""
    run = autolabel_run(session, job.id)
    if run is None:
        return None
    state = json.loads(run.state_json)
    if "iterations" not in state:   # turned off before its first step
        return {"done": True, "reason": state.get("reason", ""), "error": state.get("error"), "iterations": []}
    config = state["config"]
    requested = set(state["requested"])
    validation = requested & set(state["validation_ids"])
    counts = object_counts_by_status(session, job.id)
    cost = cost_summary(job.n_objects, len(requested), len(state["machine"]), job.reward_cents,
                        job.workers_per_object, job.masters, validation_objects=len(validation),
                        validation_workers_per_object=config.get("validation_workers_per_object"))
    iterations = []
    for item in state["iterations"]:
        row = {key: value for key, value in item.items() if key != "machine_labels"}
        row["new_machine_labels"] = len(item["machine_labels"])
        iterations.append(row)
    return {
        "done": bool(state["done"]), "reason": state["reason"],
        "human_objects": len(requested), "validation_objects": len(validation),
        "machine_labeled": counts.get(ObjectStatus.MACHINE_LABELED, 0),
        "held": counts.get(ObjectStatus.HELD, 0),
        "iterations": iterations, "cost": cost.to_dict(), "model_uri": run.model_uri,
    }


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) rows of an autolabel_summary for the terminal tables and the job report."""
    if "cost" not in summary:
        return [("auto-label", f"turned off: {summary.get('error') or summary.get('reason')}")]
    cost = summary["cost"]
    state = f"done ({summary['reason']})" if summary["done"] else "running"
    rows = [("auto-label", f"{state}: {summary['human_objects']} objects to the crowd "
                           f"({summary['validation_objects']} validation), {summary['machine_labeled']} machine-labeled, "
                           f"{summary['held']} held"),
            ("auto-label saving" + ("" if summary["done"] else " so far"),
             f"{cost['saved_fraction']:.1%} ({cost['saved_cents']} of {cost['all_human_cost_cents']} cents "
             f"all-human)")]
    for row in summary["iterations"]:
        rows.append((f"  iteration {row['iteration']}", iteration_message(row).split(": ", 1)[1]))
    if summary.get("model_uri"):
        rows.append(("auto-label model", summary["model_uri"]))
    return rows
