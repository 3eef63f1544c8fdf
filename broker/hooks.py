"""Custom jobs' pre- and post-annotation hooks: Ground Truth's Lambda contracts, run in-process.

A Ground Truth custom workflow is a template plus two Lambdas. Here they are Python functions
named in the job spec (`hooks: {pre_annotation: hooks.py:lambda_handler, ...}`: a file relative
to the spec, or an importable module), called with the same event JSON the Lambdas get and
expected to return the same response, so a Lambda's handler ports over unchanged. A handler
taking `(event, context)` gets `context=None`.

pre_annotation   event {"version", "labelingJobArn", "dataObject": <manifest line>} ->
                 {"taskInput": {...}, "isHumanAnnotationRequired": bool (optional, default true)}.
                 taskInput is the template's task.input. Called at submit for every line (to know
                 which objects need people, and to fail before anything is posted) and again when
                 the object's page is rendered, so it should be a pure function of the line.
post_annotation  event {"version", "labelingJobArn", "labelCategories", "labelAttributeName",
                 "roleArn", "payload": {"s3Uri"}} -> [{"datasetObjectId", "consolidatedAnnotation":
                 {"content": {<labelAttributeName>: ...}}}]. The payload file (`read_payload`)
                 lists each finished object's data object and every worker's answer. Called once per
                 object, when all its answers are in; an object it leaves out fails with a reason.

Without a post-annotation hook the answers pass through as AWS's sample consolidation Lambda
returns them: `{"annotationsFromAllWorkers": [{"workerId", "annotationData": {"content"}}]}`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.storage import read_text

LAMBDA_VERSION = "2018-10-16"
ROLE_ARN = "arn:aws:iam::000000000000:role/crowd-broker"  # no IAM here; the field is in the contract
HUMAN_REQUIRED_KEYS = ("isHumanAnnotationRequired", "humanAnnotationRequired")  # the guide uses both


class HookError(ValueError):
    """A hook that cannot be loaded, raised, or answered outside the contract; says which and why."""


@dataclass(frozen=True)
class PreAnnotation:
    task_input: dict[str, Any]
    human_required: bool


def job_arn(job_name: str) -> str:
    return f"arn:aws:sagemaker:local:000000000000:labeling-job/{job_name}"


def check_reference(reference: str, base_dir: str | Path | None) -> str:
    """`file.py:function` (made absolute against the spec's folder) or `package.module:function`."""
    target, sep, function = reference.rpartition(":")
    if not sep or not target or not function.isidentifier():
        raise ValueError(f"{reference!r} must be 'file.py:function' or 'package.module:function'")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        return f"{path.resolve()}:{function}"
    return reference


def load_hook(reference: str) -> Callable[..., Any]:
    """The function a checked reference names; HookError naming it when it cannot be loaded."""
    target, _, function = reference.rpartition(":")
    try:
        if target.endswith(".py"):
            spec = importlib.util.spec_from_file_location(f"crowd_broker_hook_{abs(hash(target))}", target)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {target}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        handler = getattr(module, function)
    except Exception as error:  # the requester's code: any failure to import is theirs to see
        raise HookError(f"{reference}: cannot load the hook ({type(error).__name__}: {error})") from error
    if not callable(handler):
        raise HookError(f"{reference}: {function} is not a function")
    return handler


def call_hook(handler: Callable[..., Any], reference: str, event: dict[str, Any]) -> Any:
    """handler(event, None) like a Lambda, or handler(event) when it takes one argument."""
    try:
        takes_context = len(inspect.signature(handler).parameters) >= 2
    except (TypeError, ValueError):
        takes_context = True
    try:
        return handler(event, None) if takes_context else handler(event)
    except Exception as error:  # noqa: BLE001 - reported with the hook's name, never swallowed
        raise HookError(f"{reference} raised {type(error).__name__}: {error}") from error


def _flag(value: Any, reference: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise HookError(f"{reference}: isHumanAnnotationRequired must be true or false, got {value!r}")


def pre_annotation(reference: str, job_name: str, data_object: Mapping[str, Any]) -> PreAnnotation:
    """Run the pre-annotation hook on one manifest line and check its response."""
    event = {"version": LAMBDA_VERSION, "labelingJobArn": job_arn(job_name), "dataObject": dict(data_object)}
    response = call_hook(load_hook_cached(reference), reference, event)
    if not isinstance(response, Mapping):
        raise HookError(f'{reference} returned {type(response).__name__}, not {{"taskInput": {{...}}}}')
    required = next((response[key] for key in HUMAN_REQUIRED_KEYS if key in response), True)
    human = _flag(required, reference)
    task_input = response.get("taskInput")
    if human and not isinstance(task_input, Mapping):
        raise HookError(f'{reference}: the response has no "taskInput" object')
    return PreAnnotation(dict(task_input or {}), human)


_LOADED: dict[str, Callable[..., Any]] = {}


def load_hook_cached(reference: str) -> Callable[..., Any]:
    """load_hook once per process and reference (a job renders thousands of objects)."""
    if reference not in _LOADED:
        _LOADED[reference] = load_hook(reference)
    return _LOADED[reference]


def payload_entry(index: int, data_object: Mapping[str, Any], answers: list[tuple[str, Any]]) -> dict[str, Any]:
    """One object of the post-annotation payload: its data object and every (worker, answer)."""
    source = {"content": data_object["source"]} if "source" in data_object else {"s3Uri": data_object.get("source-ref")}
    return {
        "datasetObjectId": str(index),
        "dataObject": source,
        "annotations": [
            {"workerId": worker, "annotationData": {"content": json.dumps(content, ensure_ascii=False)}}
            for worker, content in answers
        ],
    }


def pass_through(entries: list[dict[str, Any]], attribute: str) -> list[dict[str, Any]]:
    """The response AWS's sample consolidation Lambda gives: every worker's answer, unconsolidated."""
    return [
        {
            "datasetObjectId": entry["datasetObjectId"],
            "consolidatedAnnotation": {"content": {attribute: {"annotationsFromAllWorkers": entry["annotations"]}}},
        }
        for entry in entries
    ]


def post_annotation_event(job_name: str, labels: list[str], attribute: str, payload_uri: str) -> dict[str, Any]:
    return {
        "version": LAMBDA_VERSION,
        "labelingJobArn": job_arn(job_name),
        "labelCategories": list(labels),
        "labelAttributeName": attribute,
        "roleArn": ROLE_ARN,
        "payload": {"s3Uri": payload_uri},
    }


def read_payload(event: Mapping[str, Any], settings: Any = None) -> list[dict[str, Any]]:
    """For a hook: the payload file the event names (a local path or s3://), decoded."""
    return json.loads(read_text(event["payload"]["s3Uri"], settings))


def consolidated_contents(response: Any, reference: str, attribute: str, sent: set[int]) -> dict[int, Any]:
    """object index -> content[attribute] from a post-annotation response; HookError on a response
    outside the contract (nothing of it is used then: a half-read response is not stored)."""
    if not isinstance(response, list):
        raise HookError(f"{reference} returned {type(response).__name__}, not a list of consolidated annotations")
    contents: dict[int, Any] = {}
    for n, entry in enumerate(response):
        where = f"{reference}: response[{n}]"
        try:
            index = int(entry["datasetObjectId"])
            content = entry["consolidatedAnnotation"]["content"]
        except (KeyError, TypeError, ValueError) as error:
            raise HookError(f"{where} needs datasetObjectId and consolidatedAnnotation.content ({error!r})") from None
        if index not in sent:
            raise HookError(f"{where}: datasetObjectId {index} was not in the payload")
        if not isinstance(content, Mapping) or attribute not in content:
            raise HookError(f"{where}: consolidatedAnnotation.content has no {attribute!r} (the label attribute)")
        contents[index] = content[attribute]
    return contents


__all__ = [
    "HookError",
    "PreAnnotation",
    "check_reference",
    "consolidated_contents",
    "load_hook",
    "pass_through",
    "payload_entry",
    "post_annotation_event",
    "pre_annotation",
    "read_payload",
]
