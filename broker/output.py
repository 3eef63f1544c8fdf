"""Ground Truth's output tree under `<output>/<job name>/`, in Ground Truth's exact layout.

manifests/output/output.manifest     every input line, in order: labeled lines gain `<attr>` and
                                     `<attr>-metadata`; lines not yet labeled are copied unchanged;
                                     failed lines gain `<attr>-metadata` with `failure-reason`
manifests/output/failed.manifest     the failed lines alone (same layout), to fix and resubmit
annotations/worker-response/iteration-N/<datasetObjectId>/<timestamp>.json
annotations/consolidated-annotation/consolidation-response/iteration-N/<timestamp>.json

The files are rewritten whole (atomically on disk) as objects complete, so a reader never sees a
half-written manifest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from broker.annotations.base import confidence
from broker.domain.lifecycle import ObjectStatus
from broker.spec import JobSpec
from broker.storage import join_uri, write_text
from broker.tasks.base import OutputLayout

OUTPUT_MANIFEST_PATH = ("manifests", "output", "output.manifest")
FAILED_MANIFEST_PATH = ("manifests", "output", "failed.manifest")
FAILURE_REASON_KEY = "failure-reason"
REASON_EXPIRED = "Expired: no worker answered before the HIT's lifetime ended"
REASON_BUDGET = "Budget exhausted: the job's budget_usd could not pay for this object"
REASON_STOPPED = "Stopped: the job was stopped before this object was labeled"
REASON_NO_VALID_ANSWERS = "No valid answers: every answer was empty or could not be read"


@dataclass(frozen=True)
class ObjectResult:
    """One object's consolidated label, as the consolidate tick produces it.

    Single-label: `label` (class index) and `confidence`. Multi-label: `labels` (every class index
    chosen by at least one worker) and `confidence_map` (index -> confidence). Custom: `content`,
    written verbatim. Boxes and spans (broker.annotations): `content` is Ground Truth's value and
    `metadata` the type's own metadata keys (`objects`, `class-map`, `entities`, ...).
    """

    label: int | None = None
    labels: list[int] | None = None
    confidence: float | None = None
    confidence_map: dict[int, float] | None = None
    human_annotated: bool = True
    content: Any = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class FailedObject:
    """An object that will get no label, and why."""

    reason: str


Outcome = ObjectResult | FailedObject


def creation_date(now: datetime) -> str:
    """Ground Truth's `creation-date`: ISO 8601 in UTC with microseconds, e.g. 2018-10-18T22:18:13.527256."""
    if now.tzinfo is None:
        raise ValueError("times are timezone-aware UTC; got a naive datetime")
    return now.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def iso_millis(moment: datetime) -> str:
    """worker-response times: YYYY-MM-DDTHH:MM:SS.mmmZ."""
    if moment.tzinfo is None:
        raise ValueError("times are timezone-aware UTC; got a naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"


def file_timestamp(now: datetime) -> str:
    """Ground Truth's annotation file names: YYYY-MM-DD_HH:MM:SS."""
    return now.astimezone(UTC).strftime("%Y-%m-%d_%H:%M:%S")


def job_name_value(spec: JobSpec) -> str:
    return f"labeling-job/{spec.job_name}"


def _confidence(spec: JobSpec, value: float | None) -> float:
    """annotations.confidence for the job; 0.00 for a class nobody chose."""
    return 0.0 if value is None else confidence(value, spec.workers_per_object)


def output_line(spec: JobSpec, input_line: Mapping[str, Any], result: ObjectResult, now: datetime) -> dict[str, Any]:
    """The input line plus `<attr>` and `<attr>-metadata` in Ground Truth's layout for the task type."""
    attribute = spec.label_attribute_name
    line = {key: value for key, value in input_line.items() if key not in (attribute, f"{attribute}-metadata")}
    layout = spec.task.output_layout
    if layout == OutputLayout.CUSTOM:
        line[attribute] = result.content
        line[f"{attribute}-metadata"] = {
            "job_name": job_name_value(spec),
            "type": spec.output_type,
            "human-annotated": "yes" if result.human_annotated else "no",
            "creation_date": creation_date(now),
        }
    elif layout == OutputLayout.ANNOTATION:
        line[attribute] = result.content
        line[f"{attribute}-metadata"] = {**(result.metadata or {}), **_common_metadata(spec, result, now)}
    elif layout == OutputLayout.MULTI_LABEL:
        line[attribute], line[f"{attribute}-metadata"] = _multilabel(spec, result, now)
    else:
        line[attribute], line[f"{attribute}-metadata"] = _single_label(spec, result, now)
        if layout == OutputLayout.VERDICT:  # Ground Truth writes the verdict index as a string
            line[attribute] = str(line[attribute])
    return line


def _common_metadata(spec: JobSpec, result: ObjectResult, now: datetime) -> dict[str, Any]:
    return {
        "type": spec.output_type,
        "human-annotated": "yes" if result.human_annotated else "no",
        "creation-date": creation_date(now),
        "job-name": job_name_value(spec),
    }


def _single_label(spec: JobSpec, result: ObjectResult, now: datetime) -> tuple[int, dict[str, Any]]:
    if result.label is None or not 0 <= result.label < len(spec.labels):
        raise ValueError(f"label index {result.label!r} is not one of the job's {len(spec.labels)} labels")
    metadata = {
        "class-name": spec.labels[result.label],
        "confidence": _confidence(spec, result.confidence),
        "type": spec.output_type,
        "job-name": job_name_value(spec),
        "human-annotated": "yes" if result.human_annotated else "no",
        "creation-date": creation_date(now),
    }
    return int(result.label), metadata


def _multilabel(spec: JobSpec, result: ObjectResult, now: datetime) -> tuple[list[int], dict[str, Any]]:
    labels = [int(index) for index in (result.labels or [])]
    bad = [index for index in labels if not 0 <= index < len(spec.labels)]
    if bad or len(set(labels)) != len(labels):
        raise ValueError(f"label indices {labels} must be distinct indices of the job's {len(spec.labels)} labels")
    confidences = result.confidence_map or {}
    metadata = {
        "job-name": job_name_value(spec),
        "class-map": {str(index): spec.labels[index] for index in labels},
        "human-annotated": "yes" if result.human_annotated else "no",
        "creation-date": creation_date(now),
        "confidence-map": {str(index): _confidence(spec, confidences.get(index)) for index in labels},
        "type": spec.output_type,
    }
    return labels, metadata


def failed_line(spec: JobSpec, input_line: Mapping[str, Any], reason: str, now: datetime) -> dict[str, Any]:
    """A failed object: the input line plus `<attr>-metadata` holding `failure-reason` (no label)."""
    attribute = spec.label_attribute_name
    line = {key: value for key, value in input_line.items() if key not in (attribute, f"{attribute}-metadata")}
    line[f"{attribute}-metadata"] = {
        FAILURE_REASON_KEY: reason,
        "type": spec.output_type,
        "job-name": job_name_value(spec),
        "creation-date": creation_date(now),
    }
    return line


def build_output_manifest(
    spec: JobSpec,
    input_lines: Iterable[Mapping[str, Any]],
    outcomes: Mapping[int, Outcome],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(output lines, failed lines) for the input lines in order; `outcomes` is keyed by the
    position of the line in `input_lines`. Lines without an outcome are copied unchanged."""
    output: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for position, input_line in enumerate(input_lines):
        outcome = outcomes.get(position)
        if isinstance(outcome, ObjectResult):
            output.append(output_line(spec, input_line, outcome, now))
        elif isinstance(outcome, FailedObject):
            line = failed_line(spec, input_line, outcome.reason, now)
            output.append(line)
            failed.append(line)
        else:
            output.append(dict(input_line))
    return output, failed


def worker_answer(worker_id: str, accepted_at: datetime, submitted_at: datetime, content: Any) -> dict[str, Any]:
    """One entry of worker-response `answers`, as Ground Truth writes it for MTurk workers."""
    return {
        "acceptanceTime": iso_millis(accepted_at),
        "answerContent": content,
        "submissionTime": iso_millis(submitted_at),
        "timeSpentInSeconds": round((submitted_at - accepted_at).total_seconds(), 3),
        "workerId": worker_id,
    }


def consolidation_entry(spec: JobSpec, dataset_object_id: str, labeled_line: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of consolidation-response: the label and its metadata for one object."""
    attribute = spec.label_attribute_name
    content = {
        attribute: labeled_line.get(attribute),
        f"{attribute}-metadata": labeled_line.get(f"{attribute}-metadata"),
    }
    return {"datasetObjectId": str(dataset_object_id), "consolidatedAnnotation": {"content": content}}


def dumps_line(line: Mapping[str, Any]) -> str:
    """One JSON Lines record: compact, UTF-8 kept as is."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


@dataclass
class OutputWriter:
    """Writes a job's output tree under `<spec.output>/<job name>/` (local folder or s3://)."""

    spec: JobSpec
    settings: Any = None
    root: str = field(init=False)

    def __post_init__(self) -> None:
        self.root = join_uri(self.spec.output, self.spec.job_name)

    def uri(self, *parts: str) -> str:
        return join_uri(self.root, *parts)

    @property
    def output_manifest_uri(self) -> str:
        return self.uri(*OUTPUT_MANIFEST_PATH)

    @property
    def failed_manifest_uri(self) -> str:
        return self.uri(*FAILED_MANIFEST_PATH)

    def write_manifest(self, lines: Iterable[Mapping[str, Any]]) -> str:
        """Rewrite manifests/output/output.manifest with every line."""
        text = "".join(dumps_line(line) + "\n" for line in lines)
        write_text(self.output_manifest_uri, text, self.settings, content_type="application/jsonlines")
        return self.output_manifest_uri

    def write_failed(self, lines: Iterable[Mapping[str, Any]]) -> str:
        """Rewrite manifests/output/failed.manifest (empty when nothing failed)."""
        text = "".join(dumps_line(line) + "\n" for line in lines)
        write_text(self.failed_manifest_uri, text, self.settings, content_type="application/jsonlines")
        return self.failed_manifest_uri

    def write_outputs(
        self, input_lines: Iterable[Mapping[str, Any]], outcomes: Mapping[int, Outcome], now: datetime
    ) -> tuple[str, str]:
        """Build and write output.manifest and failed.manifest from the outcomes so far."""
        output, failed = build_output_manifest(self.spec, input_lines, outcomes, now)
        return self.write_manifest(output), self.write_failed(failed)

    def write_worker_response(
        self,
        iteration: int,
        dataset_object_id: str,
        answers: list[dict[str, Any]],
        now: datetime,
        *,
        durable: bool = True,
    ) -> str:
        """annotations/worker-response/iteration-N/<id>/<timestamp>.json holding {"answers": [...]}.

        A batch of them may be written with `durable=False` and then storage.sync_local_writes().
        """
        uri = self.uri(
            "annotations",
            "worker-response",
            f"iteration-{iteration}",
            str(dataset_object_id),
            f"{file_timestamp(now)}.json",
        )
        write_text(
            uri,
            json.dumps({"answers": answers}, ensure_ascii=False),
            self.settings,
            content_type="application/json",
            durable=durable,
        )
        return uri

    def write_consolidation_response(self, iteration: int, entries: list[dict[str, Any]], now: datetime) -> str:
        """annotations/consolidated-annotation/consolidation-response/iteration-N/<timestamp>.json."""
        uri = self.uri(
            "annotations",
            "consolidated-annotation",
            "consolidation-response",
            f"iteration-{iteration}",
            f"{file_timestamp(now)}.json",
        )
        write_text(uri, json.dumps(entries, ensure_ascii=False), self.settings, content_type="application/json")
        return uri


def outcomes_for(
    objects: Iterable[tuple[int, str, str | None, str | None, str | None]], multilabel: bool, shapes: bool = False
) -> dict[int, Outcome]:
    """(index, status, label JSON, confidence JSON, failure reason) rows -> each finished object's outcome.

    `shapes` (boxes, masks, spans, custom content): the label is Ground Truth's value and the
    "confidence" its metadata keys. Objects not finished yet have no outcome."""
    outcomes: dict[int, Outcome] = {}
    for index, status, label_json, confidence_json, reason in objects:
        if shapes and status == ObjectStatus.CONSOLIDATED and label_json is not None:
            outcomes[index] = ObjectResult(content=json.loads(label_json), metadata=json.loads(confidence_json or "{}"))
        elif status == ObjectStatus.CONSOLIDATED and label_json is not None:
            label = json.loads(label_json)
            confidence = json.loads(confidence_json) if confidence_json else None
            if multilabel:
                confidence_map = {int(k): float(v) for k, v in (confidence or {}).items()}
                outcomes[index] = ObjectResult(labels=list(label), confidence_map=confidence_map)
            else:
                outcomes[index] = ObjectResult(label=int(label), confidence=confidence)
        elif status == ObjectStatus.MACHINE_LABELED and label_json is not None:  # labeled by the auto-label model
            confidence = json.loads(confidence_json) if confidence_json else None
            outcomes[index] = ObjectResult(
                label=int(json.loads(label_json)), confidence=confidence, human_annotated=False
            )
        elif status == ObjectStatus.FAILED:
            outcomes[index] = FailedObject(reason=reason or "failed")
    return outcomes
