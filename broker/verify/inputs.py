"""What a label-verification manifest line carries: the label to verify and the model's confidence.

The input is another job's output manifest (`<attr>` holds a class index, `<attr>-metadata` its
`class-name` and `confidence`) or any manifest with a label attribute and a confidence field.
Every line is checked at submit time, so a bad line is reported with its file, line and field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broker.spec import Issue
from broker.templates import TemplateError, build_verification_task_input
from broker.verify.config import VerificationConfig


class VerificationInputError(ValueError):
    """A manifest line without a usable label or confidence; `field` names the attribute."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class ShownLabel:
    """The label workers verify and the model's confidence in it, in percent (None: not given)."""

    label: str
    confidence: float | None


def dotted(data: Mapping[str, Any], path: str) -> Any:
    """data["a"]["b"] for "a.b"; a key that itself holds a dot is tried whole first."""
    if path in data:
        return data[path]
    head, _, rest = path.partition(".")
    value = data.get(head)
    if not rest or not isinstance(value, Mapping):
        return None if rest else value
    return dotted(value, rest)


def _label(data: Mapping[str, Any], attribute: str) -> str:
    metadata = data.get(f"{attribute}-metadata")
    name = metadata.get("class-name") if isinstance(metadata, Mapping) else None
    if isinstance(name, str) and name.strip():
        return name
    value = data.get(attribute)
    if isinstance(value, str) and value.strip():
        return value
    if value is None:
        raise VerificationInputError(attribute, "missing: the label to verify")
    raise VerificationInputError(attribute, f"{value!r} is not a label name and {attribute}-metadata has no class-name")


def _confidence(data: Mapping[str, Any], config: VerificationConfig) -> float | None:
    path = config.confidence_path
    value = dotted(data, path)
    if value is None:
        if config.confidence_field:
            raise VerificationInputError(path, "missing: the model confidence")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise VerificationInputError(path, f"{value!r} is not a confidence (0-1, or a percent 0-100)")
    return float(value) * 100 if value <= 1 else float(value)


def shown_label(data: Mapping[str, Any], config: VerificationConfig) -> ShownLabel:
    """The label and confidence of one line; VerificationInputError naming the field."""
    return ShownLabel(_label(data, config.label_attribute), _confidence(data, config))


def check_lines(spec: Any, lines: Sequence[Any]) -> list[Issue]:
    """An Issue (file, line, field) for every line without a usable label or confidence."""
    problems = []
    for line in lines:
        try:
            shown_label(line.data, spec.verification)
        except VerificationInputError as error:
            problems.append(Issue(spec.input_manifest, line.line_number, error.field, error.message))
    return problems


def render_check_batches(spec: Any, lines: Sequence[Any]) -> list[list[Any]]:
    """The batches submit renders to check size: the first one, and the largest lines of the
    largest line's label (a batch of them is the biggest HTMLQuestion the job can make)."""
    size = spec.verification.batch_size
    label_of = [shown_label(line.data, spec.verification).label for line in lines]
    first = [line for line, label in zip(lines, label_of) if label == label_of[0]][:size]
    largest = max(range(len(lines)), key=lambda i: len(json.dumps(lines[i].data)))
    same = [line for line, label in zip(lines, label_of) if label == label_of[largest]]
    return [first, sorted(same, key=lambda line: -len(json.dumps(line.data)))[:size]]


def batch_task_input(spec: Any, data_objects: Sequence[Mapping[str, Any]], ids: Sequence[str]) -> dict[str, Any]:
    """Ground Truth's task.input for one batch HIT (its objects share one label)."""
    try:
        labels = {shown_label(data, spec.verification).label for data in data_objects}
    except VerificationInputError as error:
        raise TemplateError(str(error)) from error
    if len(labels) != 1:
        raise TemplateError(f"a verification batch shares one label; got {sorted(labels)}")
    instructions = spec.instructions
    return build_verification_task_input(
        list(data_objects),
        list(ids),
        label=labels.pop(),
        header=spec.header_text,
        short_instructions=instructions.short or "",
        full_instructions=instructions.full or "",
        good_examples=list(instructions.good_examples or []),
        bad_examples=list(instructions.bad_examples or []),
        max_batch=spec.verification.batch_size,
    )
