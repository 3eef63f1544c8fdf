"""The quality figures of a `broker demo --task T` job, read from the broker DB.

Each demo task is a task type's recipe (broker.tasks.base.DemoRecipe, in the task type's module):
it writes the objects with known truth and computes the quality figures from a DemoOutcome. This
module builds that outcome from the job's rows. The default digits demo (image classification)
computes its accuracy figures in broker.demo.
"""

from __future__ import annotations

import json
from typing import Any

from broker.domain.lifecycle import ObjectStatus
from broker.store import reading
from broker.store.answers import answers_for_consolidation, verdict_arrays
from broker.store.views import job_by_id, object_results
from broker.tasks.base import ConsolidationMethod, DemoOutcome, TaskType


def task_summary(task: TaskType, engine: Any, job_id: int, truth: dict[str, Any]) -> dict[str, float]:
    """The task's quality figures from the job's consolidated objects and usable answers."""
    if task.demo is None:
        raise ValueError(f"task type {task.id!r} has no demo recipe")
    with reading(engine) as session:
        labels = job_by_id(session, job_id).labels
        objects = object_results(session, job_id)
        rows = answers_for_consolidation(session, job_id)
        verdicts = verdict_arrays(session, job_id) if task.consolidation == ConsolidationMethod.VERDICTS else None
    lines = [json.loads(o.data_json) for o in objects]
    outcome = DemoOutcome(
        values={
            o.index: json.loads(o.label_json)
            for o in objects
            if o.status == ObjectStatus.CONSOLIDATED and o.label_json is not None
        },
        answers=[(index, json.loads(chosen)) for index, _, chosen in rows],
        truth=[truth[line.get("source-ref") or line["source"]] for line in lines],
        labels=labels,
        lines=lines,
        verdict_objects=None if verdicts is None else verdicts.objects,
        verdicts=None if verdicts is None else verdicts.verdicts,
    )
    return task.demo.quality(outcome)
