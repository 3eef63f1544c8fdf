"""What a simulated worker submits for a built-in template: the `taskAnswers` JSON of its crowd element."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.marketplace.crowd import models
from broker.marketplace.crowd.models import WorkerModelSpec

CLASSIFIERS = {"crowd-image-classifier", "crowd-classifier"}
MULTI_SELECT = {"crowd-image-classifier-multi-select", "crowd-classifier-multi-select"}
BOXES = {"crowd-bounding-box"}


@dataclass(frozen=True)
class TaskInput:
    """The `crowd-task-input` block of a built-in template's page."""

    element: str
    name: str
    labels: list[str]
    data_object: dict[str, Any]
    task_input: dict[str, Any]

    @property
    def key(self) -> str:
        """The data object's identity: its source-ref, else its source text."""
        value = self.data_object.get("source-ref", self.data_object.get("source", ""))
        return str(value)


def _label_names(raw: Any) -> list[str]:
    names = []
    for item in raw or []:
        if isinstance(item, Mapping):
            item = item.get("label", item.get("name", ""))
        names.append(str(item))
    return names


def task_input_from_block(block: Mapping[str, Any]) -> TaskInput:
    data_object = block.get("dataObject") or {}
    return TaskInput(
        element=str(block.get("element", "")), name=str(block.get("name", "")) or "answer",
        labels=_label_names(block.get("labels")), data_object=dict(data_object) if isinstance(data_object, Mapping) else {},
        task_input=dict(block.get("taskInput") or {}),
    )


def image_size_hint(task: TaskInput) -> tuple[int, int] | None:
    """An image size the page states (taskInput or dataObject), if any."""
    for source in (task.task_input, task.data_object):
        for key in ("imageSize", "image_size", "inputImageProperties"):
            size = source.get(key)
            if isinstance(size, Mapping) and size.get("width") and size.get("height"):
                return int(size["width"]), int(size["height"])
    return None


def element_answer(
    spec: WorkerModelSpec, task: TaskInput, truth: Any, seed: int, worker: int,
    image_size: tuple[int, int] | None = None,
) -> Any:
    """The value under the element's name, shaped like Ground Truth's crowd-form output."""
    key = task.key
    if task.element in MULTI_SELECT:
        return {"labels": models.answer_labels(spec, task.labels, truth, seed, worker, key)}
    if task.element in BOXES:
        size = image_size or image_size_hint(task)
        return models.answer_boxes(spec, task.labels, models.box_truth(truth, size), seed, worker, key, size)
    if task.element in CLASSIFIERS or task.labels:
        return {"label": models.answer_label(spec, task.labels, truth, seed, worker, key)}
    return str(truth) if truth is not None else "n/a"


def task_answers(answer: Any, name: str) -> list[dict[str, Any]]:
    return [{name: answer}]
