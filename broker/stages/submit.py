"""`broker submit`: validate a job completely, then write it to the DB in one transaction.

Nothing reaches the marketplace here. A spec, manifest or template error raises before any
row is written, so there is never a half-submitted job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.actions.hits import render_question
from broker.actions.qualifications import check_qualification_test
from broker.domain.clock import utcnow
from broker.domain.lifecycle import ObjectStatus
from broker.gold import mix_gold
from broker.manifest import carried_indices, line_check, read_manifest
from broker.spec import SubmitError, load_job_spec
from broker.store.engine import Engine, transaction
from broker.store.events import record_event
from broker.store.jobs import job_named
from broker.store.submission import NewObject, insert_job
from broker.templates import builtin_template_source
from broker.verify.inputs import render_check_batches


@dataclass(frozen=True)
class SubmittedJob:
    job_id: int
    name: str
    n_objects: int
    n_rejected_lines: int


def spec_to_json(spec: Any) -> str:
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True)


def template_source_for(spec: Any) -> str:
    """The custom Liquid template named by the spec, or the built-in one of its task type."""
    template = getattr(spec, "template", None)
    if template:
        path = Path(template)
        if not path.is_absolute() and getattr(spec, "spec_path", None):
            path = Path(spec.spec_path).parent / path
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SubmitError(f"{spec.spec_path}: template: cannot read {path}: {exc.strerror}") from exc
    return builtin_template_source(spec.task_type)


def submit_job(
    spec_path: str | Path, engine: Engine, settings: Any = None, *, skip_invalid_lines: bool = False
) -> SubmittedJob:
    """Load and check spec, manifest and template; then store Job + DataObjects atomically."""
    spec = load_job_spec(spec_path, settings=settings)
    if spec.streaming:
        return _submit_streaming(spec, spec_path, engine)
    lines, rejected = read_manifest(spec.input_manifest, skip_invalid=skip_invalid_lines, settings=settings)
    if not lines:
        raise SubmitError(f"{spec.input_manifest}: the input manifest holds no data objects")
    lines = mix_gold(spec, lines, settings)
    check = line_check(spec, lines)  # a verification label, the boxes to adjust, the PRE hook
    if check.issues:
        raise SubmitError("\n".join(map(str, check.issues)))
    check_qualification_test(spec)
    template_source = template_source_for(spec)
    _check_renders(
        spec,
        template_source,
        [line for i, line in enumerate(lines) if i not in check.not_for_people] or lines,
        settings,
    )

    # an auto_label job's objects wait (held) until the auto-label loop releases them to the crowd
    auto_label = getattr(spec, "auto_label", None)
    first_status = ObjectStatus.HELD if auto_label is not None and auto_label.enabled else ObjectStatus.PENDING
    gold = getattr(getattr(spec, "quality", None), "gold", None)  # gold objects always go to the crowd
    gold_attribute = getattr(gold, "label_attribute", None)
    is_gold = {i for i, line in enumerate(lines) if gold_attribute and gold_attribute in line.data}
    carried = carried_indices(spec, lines) - is_gold
    carried |= check.not_for_people  # passed through unlabeled, like a carried line
    objects = [
        NewObject(
            index=index,
            line_number=line.line_number,
            data_json=json.dumps(line.data, ensure_ascii=False),
            status=ObjectStatus.CARRIED
            if index in carried
            else ObjectStatus.PENDING
            if index in is_gold
            else first_status,
        )
        for index, line in enumerate(lines)
    ]

    with transaction(engine) as session:
        _refuse_a_taken_name(session, spec, spec_path)
        job = insert_job(session, objects, **_job_columns(spec, spec_path, template_source, len(lines)))
        record_event(
            session,
            job.id,
            "submitted",
            f"{len(lines)} objects from {spec.input_manifest}; {len(rejected)} lines rejected; "
            f"{len(carried)} already labeled as {spec.label_attribute_name!r} (carried over, not posted)",
        )
        return SubmittedJob(job.id, job.name, len(lines), len(rejected))


def _refuse_a_taken_name(session: Any, spec: Any, spec_path: str | Path) -> None:
    existing = job_named(session, spec.job_name)
    if existing is not None:
        raise SubmitError(
            f"{spec_path}: job_name: a job named {spec.job_name!r} already exists "
            f"(status {existing.status}); job names are unique"
        )


def _submit_streaming(spec: Any, spec_path: str | Path, engine: Engine) -> SubmittedJob:
    """A streaming job starts with no objects: the intake tick takes them from its input as they come."""
    check_qualification_test(spec)
    template_source = template_source_for(spec)
    with transaction(engine) as session:
        _refuse_a_taken_name(session, spec, spec_path)
        job = insert_job(session, [], **_job_columns(spec, spec_path, template_source, 0))
        record_event(session, job.id, "submitted", f"streaming job: objects are taken from {spec.input} as they come")
        return SubmittedJob(job.id, job.name, 0, 0)


def _job_columns(spec: Any, spec_path: str | Path, template_source: str, n_objects: int) -> dict[str, Any]:
    return dict(
        name=spec.job_name,
        task_type=spec.task_type,
        spec_path=str(Path(spec_path).resolve()),
        spec_json=spec_to_json(spec),
        template_source=template_source,
        labels_json=json.dumps(list(spec.labels)),
        marketplace=str(spec.marketplace),
        output_uri=str(spec.output),
        reward_cents=int(spec.reward_cents),
        workers_per_object=int(spec.workers_per_object),
        max_concurrent_hits=int(spec.max_concurrent_hits),
        budget_cents=spec.budget_cents,
        masters=bool(getattr(spec, "masters", False)),
        n_objects=n_objects,
        created_at=utcnow(),
    )


def _check_renders(spec: Any, template_source: str, lines: list, settings: Any) -> None:
    """Render the first object and the largest one: template errors and size fail the submit."""
    if spec.task.batched:
        for batch in render_check_batches(spec, lines):
            render_question(
                spec,
                template_source,
                {},
                _placeholder_url,
                batch=[(str(i), line.data) for i, line in enumerate(batch)],
                where=f"{spec.input_manifest}:{batch[0].line_number}",
            )
        return
    largest = max(lines, key=lambda line: len(json.dumps(line.data)))
    for line in {id(lines[0]): lines[0], id(largest): largest}.values():
        render_question(
            spec, template_source, line.data, _placeholder_url, where=f"{spec.input_manifest}:{line.line_number}"
        )


def _placeholder_url(uri: str) -> str:
    """Stand-in for grant_read_access at submit time: the same length class as a presigned URL."""
    return "https://example.invalid/" + uri.replace("s3://", "")[-200:] + "?X-Amz-Signature=" + "0" * 64
