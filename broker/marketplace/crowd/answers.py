"""What a simulated worker submits for a built-in template: the `taskAnswers` JSON of its crowd element."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.marketplace.crowd import masks, models, shapes, spans, verification
from broker.marketplace.crowd.models import WorkerModelSpec

CLASSIFIERS = {"crowd-image-classifier", "crowd-classifier"}
MULTI_SELECT = {"crowd-image-classifier-multi-select", "crowd-classifier-multi-select"}
BOXES = {"crowd-bounding-box"}
SHAPE_KINDS = {"crowd-polygon": "polygons", "crowd-keypoint": "keypoints"}
SEGMENTATION = "crowd-semantic-segmentation"
ENTITIES = "crowd-entity-annotation"
VERIFICATION = "crowd-label-verification"
IMAGE_TOOLS = BOXES | set(SHAPE_KINDS) | {SEGMENTATION}


@dataclass(frozen=True)
class TaskInput:
    """The `crowd-task-input` block of a built-in template's page."""

    element: str
    name: str
    labels: list[str]
    data_object: dict[str, Any]
    task_input: dict[str, Any]
    data_objects: tuple[dict[str, Any], ...] = ()  # a verification batch: {"id", "source-ref"|"source"}

    @property
    def key(self) -> str:
        """The data object's identity: its source-ref, else its source text (a batch: its items')."""
        if self.data_objects and not self.data_object:
            return "batch:" + "\x1e".join(verification.item_key(item) for item in self.data_objects)
        value = self.data_object.get("source-ref", self.data_object.get("source", ""))
        return str(value)

    @property
    def effort(self) -> float:
        """Median work time relative to one classification (a batch: per item)."""
        return models.effort(self.element, max(1, len(self.data_objects)))


def _label_names(raw: Any) -> list[str]:
    names = []
    for item in raw or []:
        if isinstance(item, Mapping):
            item = item.get("label", item.get("name", ""))
        names.append(str(item))
    return names


def task_input_from_block(block: Mapping[str, Any]) -> TaskInput:
    data_object = block.get("dataObject") or {}
    batch = block.get("dataObjects")
    return TaskInput(
        element=str(block.get("element", "")),
        name=str(block.get("name", "")) or "answer",
        labels=_label_names(block.get("labels")),
        data_object=dict(data_object) if isinstance(data_object, Mapping) else {},
        task_input=dict(block.get("taskInput") or {}),
        data_objects=tuple(dict(o) for o in batch if isinstance(o, Mapping)) if isinstance(batch, list) else (),
    )


def image_size_hint(task: TaskInput) -> tuple[int, int] | None:
    """An image size the page states (taskInput or dataObject), if any."""
    for source in (task.task_input, task.data_object):
        for key in ("imageSize", "image_size", "inputImageProperties"):
            size = source.get(key)
            if isinstance(size, Mapping) and size.get("width") and size.get("height"):
                return int(size["width"]), int(size["height"])
    return None


def truth_image_size(truth: Any) -> tuple[int, int] | None:
    """The image size a truth record states (width/height, inputImageProperties or its mask)."""
    boxes = models.box_truth(truth) if isinstance(truth, Mapping) and not truth.get("mask") else None
    if boxes is not None:
        return boxes.width, boxes.height
    size = truth.get("inputImageProperties") if isinstance(truth, Mapping) else None
    if isinstance(size, Mapping) and size.get("width") and size.get("height"):
        return int(size["width"]), int(size["height"])
    if isinstance(truth, Mapping) and truth.get("width") and truth.get("height"):
        return int(truth["width"]), int(truth["height"])
    return masks.truth_size(truth)


def _spatial_truth(truth: Any, task: TaskInput, size: tuple[int, int] | None, seed: int) -> models.BoxTruth:
    """Truth boxes of an image (a latent set fixed by seed and object when there is no truth)."""
    boxes = models.box_truth(truth, size)
    if boxes is None and isinstance(truth, Mapping) and size is not None:  # polygon/keypoint truth without boxes
        boxes = models.BoxTruth([], size[0], size[1])
    return boxes if boxes is not None else models.latent_box_truth(task.labels, seed, task.key, size)


def _entity_text(task: TaskInput) -> str:
    text = task.task_input.get("taskObject", task.data_object.get("source", ""))
    return "" if text is None else str(text)


class AnswerError(ValueError):
    """The page or its truth cannot be answered (a malformed truth record, an unreadable mask)."""


def element_answer(
    spec: WorkerModelSpec,
    task: TaskInput,
    truth: Any,
    seed: int,
    worker: int,
    image_size: tuple[int, int] | None = None,
    truth_table: Mapping[str, Any] | None = None,
) -> Any:
    """The value under the element's name, shaped like Ground Truth's crowd-form output.

    `truth` is the truth of the page's data object; a verification batch looks its items up
    in `truth_table`. Raises AnswerError naming the object when its truth is unusable.
    """
    try:
        return _element_answer(spec, task, truth, seed, worker, image_size, truth_table)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise AnswerError(
            f"{task.element} page for {task.key!r}: its truth is unusable ({type(error).__name__}: {error})"
        ) from error


def _element_answer(
    spec: WorkerModelSpec,
    task: TaskInput,
    truth: Any,
    seed: int,
    worker: int,
    image_size: tuple[int, int] | None,
    truth_table: Mapping[str, Any] | None,
) -> Any:
    key = task.key
    if task.element in MULTI_SELECT:
        return {"labels": models.answer_labels(spec, task.labels, truth, seed, worker, key)}
    size = image_size or image_size_hint(task) or (truth_image_size(truth) if task.element in IMAGE_TOOLS else None)
    if task.element in BOXES:
        initial = shapes.initial_boxes(task.task_input, task.labels)
        if initial is not None:
            boxes = models.box_truth(truth, size)
            if boxes is None:  # no truth: the initial boxes are taken as right
                width, height = size or (640, 480)
                boxes = models.BoxTruth(initial, width, height)
            return shapes.adjust_boxes(spec, task.labels, initial, boxes, seed, worker, key)
        return models.answer_boxes(spec, task.labels, models.box_truth(truth, size), seed, worker, key, size)
    if task.element in SHAPE_KINDS:
        return shapes.answer_shapes(
            spec,
            task.labels,
            truth,
            _spatial_truth(truth, task, size, seed),
            seed,
            worker,
            key,
            SHAPE_KINDS[task.element],
            initial="initialValue" in task.task_input,
        )
    if task.element == SEGMENTATION:
        return masks.answer_segmentation(
            spec, task.labels, truth, seed, worker, key, size, initial="initialValue" in task.task_input
        )
    if task.element == ENTITIES:
        initial = task.task_input.get("initialValue")
        return spans.answer_entities(
            spec,
            task.labels,
            _entity_text(task),
            truth,
            seed,
            worker,
            key,
            initial if isinstance(initial, list) else None,
        )
    if task.element == VERIFICATION:
        label = str(task.task_input.get("label") or (task.labels[0] if task.labels else ""))
        items = task.data_objects or ({"id": "0", **task.data_object},)
        return verification.answer_verification(spec, label, items, truth_table or {}, seed, worker)
    if task.element in CLASSIFIERS or task.labels:
        return {"label": models.answer_label(spec, task.labels, truth, seed, worker, key)}
    return str(truth) if truth is not None else "n/a"


def task_answers(answer: Any, name: str) -> list[dict[str, Any]]:
    return [{name: answer}]
