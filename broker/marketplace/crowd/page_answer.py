"""What a model worker posts for one HIT page: its element's answer, or a generic form's fields."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from broker.marketplace.crowd import models
from broker.marketplace.crowd.answers import (
    IMAGE_TOOLS,
    TaskInput,
    element_answer,
    image_size_hint,
    task_answers,
    task_input_from_block,
    truth_image_size,
)
from broker.marketplace.crowd.form_filler import fill_form
from broker.marketplace.crowd.models import WorkerModelSpec
from broker.marketplace.crowd.pages import Form, ParsedPage

EXTERNAL_SUBMIT = "/mturk/externalSubmit"


@dataclass(frozen=True)
class PageAnswer:
    """The posted fields, where they go (None: externalSubmit), the object's key and the task's effort."""

    fields: list[tuple[str, str]]
    action: str | None
    key: str
    effort: float
    generic: bool  # no crowd-task-input block: the page's form filled generically


def main_form(page: ParsedPage) -> Form | None:
    """The HIT's form: the one posting to externalSubmit, else the first POST form, else any."""
    for form in page.forms:
        if form.action.endswith(EXTERNAL_SUBMIT):
            return form
    for form in page.forms:
        if form.method == "post":
            return form
    return page.forms[0] if page.forms else None


def model_page_answer(
    page: ParsedPage,
    html: str,
    assignment_id: str,
    spec: WorkerModelSpec,
    seed: int,
    worker: int,
    truth: Mapping[str, Any],
    image_size: Callable[[TaskInput], tuple[int, int] | None] = lambda task: None,
) -> PageAnswer:
    """A model worker's answer to a page; raises AnswerError when the page's truth is unusable."""
    block = page.task_input
    if block is not None:
        task = task_input_from_block(block)
        size = None
        if task.element in IMAGE_TOOLS and image_size_hint(task) is None:
            size = truth_image_size(truth.get(task.key)) or image_size(task)
        answer = element_answer(spec, task, truth.get(task.key), seed, worker, size, truth_table=truth)
        fields = [("assignmentId", assignment_id), ("taskAnswers", json.dumps(task_answers(answer, task.name)))]
        return PageAnswer(fields, None, task.key, task.effort, generic=False)
    form = main_form(page) or Form(action="", method="post", id="")
    key = "html:" + hashlib.sha256(html.encode("utf-8")).hexdigest()
    rng = models.rng_for("generic-form", seed, worker, key)
    fields = fill_form(form, rng, fixed={"assignmentId": assignment_id})
    action = form.action.strip() or None
    names = {c.name for c in form.fields if c.name and c.type != "hidden"}
    return PageAnswer(fields, action, key, models.effort(None, len(names)), generic=True)


def page_effort(page: ParsedPage) -> float:
    """How long a page's task looks, relative to one classification."""
    if page.task_input is not None:
        return task_input_from_block(page.task_input).effort
    form = main_form(page)
    names = {c.name for c in form.fields if c.name and c.type != "hidden"} if form else set()
    return models.effort(None, len(names))
