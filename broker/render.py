"""One object's worker page: Ground Truth's PRE step (task.input) and the Liquid template.

Publishing, submit's checks, `broker validate` and `broker preview` all render through here,
so what a worker sees is what was checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.hooks import HookError, pre_annotation
from broker.spec import JobSpec
from broker.storage import read_text
from broker.templates import TemplateError, build_task_input, builtin_template_source, render_task_html
from broker.verify.inputs import batch_task_input


def template_source(spec: JobSpec, settings: Any = None) -> tuple[str, str]:
    """(Liquid source, name for messages): the spec's `template:` file or the built-in one."""
    if spec.template:
        return read_text(spec.template, settings), spec.template
    return builtin_template_source(spec.task_type), f"built-in {spec.task_type} template"


DEFAULT_GOLD_ATTRIBUTE = "gold-label"


def hidden_attributes(spec: JobSpec) -> set[str]:
    """Manifest keys no worker may see: the gold answer's attribute (configured, or the default name)."""
    gold = getattr(getattr(spec, "quality", None), "gold", None)
    return {DEFAULT_GOLD_ATTRIBUTE, *([gold.label_attribute] if gold is not None else [])}


def worker_view(spec: JobSpec, data: dict[str, Any]) -> dict[str, Any]:
    """The data object as a worker's page may show it: without the gold answer, whatever the template
    does with `task.input` (a custom template's `{{ task.input | to_json }}` included)."""
    hidden = hidden_attributes(spec)
    if not any(key in data for key in hidden):
        return data
    return {key: value for key, value in data.items() if key not in hidden}


def render_object_html(
    spec: JobSpec,
    source: str,
    data: dict[str, Any],
    grant: Callable[[str], str],
    batch: list[tuple[str, dict]] | None = None,
    *,
    strict: bool = False,
) -> str:
    """The worker's page for one data object, or for a verification `batch` of (id, data object)
    (Ground Truth's PRE step + Liquid rendering). Publishing and validation both render through here."""
    data = worker_view(spec, data)
    if batch is not None:
        batch = [(object_id, worker_view(spec, item)) for object_id, item in batch]
    if batch is None and spec.task.batched:  # the object as a batch of one
        batch, data = [("0", data)], {}
    if batch is not None:
        task_input = batch_task_input(spec, [d for _, d in batch], [i for i, _ in batch])
    elif spec.hooks is not None and spec.hooks.pre_annotation:  # Ground Truth's PRE Lambda
        try:
            task_input = pre_annotation(spec.hooks.pre_annotation, spec.job_name, data).task_input
        except HookError as error:
            raise TemplateError(str(error)) from error
    else:
        instructions = spec.instructions
        task_input = build_task_input(
            spec.task_type,
            data,
            labels=list(spec.labels),
            header=spec.header_text,
            short_instructions=instructions.short or "",
            full_instructions=instructions.full or "",
            good_examples=list(instructions.good_examples or []),
            bad_examples=list(instructions.bad_examples or []),
            initial_value_attribute=spec.adjustment.label_attribute if spec.adjustment else None,
        )
    return render_task_html(
        source, task_input, task_type=spec.task_type, data_object=data, grant_read_access=grant, strict=strict
    )
