"""The task types the broker runs: one line per task-type module."""

from __future__ import annotations

from broker.tasks import (
    bounding_box,
    box_adjustment,
    classification,
    custom,
    label_verification,
    named_entity,
    semantic_segmentation,
    video_classification,
)
from broker.tasks.base import TaskType

TASK_TYPES: dict[str, TaskType] = {
    task.id: task
    for task in (
        *classification.TASK_TYPES,
        custom.TASK_TYPE,
        bounding_box.TASK_TYPE,
        box_adjustment.TASK_TYPE,
        semantic_segmentation.TASK_TYPE,
        named_entity.TASK_TYPE,
        label_verification.TASK_TYPE,
        video_classification.TASK_TYPE,
    )
}


class UnknownTaskTypeError(KeyError):
    """A task type the broker does not run."""

    def __str__(self) -> str:
        return str(self.args[0])


def task_type(name: str) -> TaskType:
    """The task type called `name`; UnknownTaskTypeError lists the known ones."""
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise UnknownTaskTypeError(f"unknown task type {name!r}; expected one of {', '.join(TASK_TYPES)}") from None
