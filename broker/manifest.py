"""The input manifest: Ground Truth's JSON Lines, read from a local file or S3 and checked whole.

Each line is one data object with `source-ref` (a file: s3://, or a local path on the local
marketplace) or `source` (inline text). Ground Truth's limits apply: a line of at most 100,000
characters, attributes of at most 20,000, no key starting with `$`, at most 100,000 objects.
Every other key passes through to the output unchanged. A relative local `source-ref` is made
absolute against the manifest's folder, so the job does not depend on the daemon's directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from broker.annotations.boxes import InitialBoxesError, initial_boxes
from broker.hooks import HookError, pre_annotation
from broker.output import FAILURE_REASON_KEY
from broker.spec import Issue, JobSpec
from broker.storage import (
    StorageError,
    is_s3,
    is_url,
    local_path,
    read_bytes,
    resolve_local,
    write_text,
)
from broker.tasks.registry import TASK_TYPES
from broker.verify.inputs import check_lines

MAX_LINE_CHARS = 100_000
MAX_ATTRIBUTE_CHARS = 20_000
MAX_OBJECTS = 100_000
SOURCE_KEYS = ("source-ref", "source")

SourceKey = Literal["source-ref", "source"]


@dataclass(frozen=True)
class ManifestLine:
    """One data object: its 1-based line number in the manifest and its JSON object."""

    line_number: int
    data: dict[str, Any]
    source_key: SourceKey

    @property
    def source(self) -> str:
        """The `source-ref` URI or the inline `source` text."""
        return self.data[self.source_key]


@dataclass(frozen=True)
class RejectedLine:
    """A line left out by --skip-invalid, kept verbatim with the reason."""

    line_number: int
    text: str
    reason: str


class ManifestError(Exception):
    """The manifest is invalid; `issues` name each bad line and why."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        shown = "\n".join(str(issue) for issue in issues[:50])
        more = f"\n... and {len(issues) - 50} more" if len(issues) > 50 else ""
        super().__init__(shown + more)


class LineError(ValueError):
    """Why one manifest line is not a valid data object; `field` is the attribute at fault."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


def read_manifest(
    uri: str,
    *,
    skip_invalid: bool = False,
    settings: Any = None,
    task_type: str | None = None,
) -> tuple[list[ManifestLine], list[RejectedLine]]:
    """Every data object of the manifest, or ManifestError naming each bad line.

    With `skip_invalid`, bad lines are returned as RejectedLines instead (write them with
    `write_rejected`); a manifest that cannot be read at all, or has no valid line, still raises.
    `task_type` adds the task's own rule (images need `source-ref`, text needs `source`).
    """
    try:
        raw = read_bytes(uri, settings)
    except StorageError as error:
        raise ManifestError([Issue(uri, None, "", str(error).removeprefix(f"{uri}: "))]) from error
    base_dir = None if is_s3(uri) else local_path(uri).resolve().parent
    lines: list[ManifestLine] = []
    rejected: list[RejectedLine] = []
    issues: list[Issue] = []
    for line_number, raw_line in enumerate(raw.split(b"\n"), start=1):
        if not raw_line.strip():
            continue
        try:
            text = raw_line.decode("utf-8").rstrip("\r")
            if line_number == 1:
                text = text.removeprefix("\ufeff")
            line = parse_line(text, line_number, task_type=task_type, base_dir=base_dir)
        except UnicodeDecodeError as error:
            problem = LineError(f"not UTF-8 (byte {error.start} of the line)")
            text = raw_line.decode("utf-8", errors="replace")
        except LineError as error:
            problem = error
        else:
            lines.append(line)
            continue
        issues.append(Issue(uri, line_number, problem.field, str(problem)))
        rejected.append(RejectedLine(line_number, text, str(problem)))
    if len(lines) > MAX_OBJECTS:
        issues.append(
            Issue(
                uri, lines[MAX_OBJECTS].line_number, "", f"{len(lines)} data objects; a job takes at most {MAX_OBJECTS}"
            )
        )
        raise ManifestError(issues)
    if issues and not skip_invalid:
        raise ManifestError(issues)
    if not lines:
        raise ManifestError(issues + [Issue(uri, None, "", "no valid data objects in the manifest")])
    return lines, rejected


def parse_line(
    text: str, line_number: int, *, task_type: str | None = None, base_dir: Path | None = None
) -> ManifestLine:
    """One manifest line -> ManifestLine, or LineError saying what is wrong."""
    if len(text) > MAX_LINE_CHARS:
        raise LineError(f"line is {len(text):,} characters; Ground Truth allows {MAX_LINE_CHARS:,}")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as error:
        raise LineError(f"not valid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(data, dict):
        raise LineError(f"a line must be a JSON object, not {type(data).__name__}")
    for key, value in data.items():
        if key.startswith("$"):
            raise LineError("keys may not start with '$'", key)
        text_value = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        try:
            (key + text_value).encode("utf-8")
        except UnicodeEncodeError as error:
            bad = (key + text_value)[error.start]
            raise LineError(
                f"holds a lone UTF-16 surrogate (\\u{ord(bad):04x}), which is not text; fix the escape", key
            ) from None
        size = len(text_value)
        if size > MAX_ATTRIBUTE_CHARS:
            raise LineError(f"attribute is {size:,} characters; Ground Truth allows {MAX_ATTRIBUTE_CHARS:,}", key)
    present = [key for key in SOURCE_KEYS if key in data]
    if not present:
        raise LineError('needs "source-ref" (a file URI) or "source" (inline text)')
    if len(present) == 2:
        raise LineError('has both "source-ref" and "source"; give one')
    source_key: SourceKey = present[0]  # type: ignore[assignment]
    value = data[source_key]
    if not isinstance(value, str) or not value.strip():
        raise LineError("must be a non-empty string", source_key)
    wanted = TASK_TYPES[task_type].source_key if task_type in TASK_TYPES else None
    if wanted is not None and source_key != wanted:
        shown = (
            '"source-ref" (an image URI), not "source"'
            if wanted == "source-ref"
            else '"source" (the text itself), not "source-ref"'
        )
        raise LineError(f"a {task_type} job needs {shown}", source_key)
    if source_key == "source-ref" and not (is_s3(value) or is_url(value)):
        data["source-ref"] = resolve_local(value, base_dir)
    return ManifestLine(line_number, data, source_key)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise LineError(f"key {key!r} appears twice", key)
        result[key] = value
    return result


def write_rejected(rejected: list[RejectedLine], uri: str, settings: Any = None) -> None:
    """The rejected lines, verbatim, in a manifest of their own (fix and submit them later)."""
    write_text(uri, "".join(line.text + "\n" for line in rejected), settings)


def rejected_report(rejected: list[RejectedLine]) -> str:
    """One 'line N: reason' per rejected line."""
    return "".join(f"line {line.line_number}: {line.reason}\n" for line in rejected)


def carried_indices(spec: Any, lines: list) -> set[int]:
    """Job chaining: lines an earlier job already labeled under this job's label attribute.

    Ground Truth continues such a job: only the unlabeled objects (no label, or a
    ``failure-reason``) are posted; labeled lines are copied to the output unchanged. With a new
    label attribute nothing is carried and every object gets the new annotation.
    Verification jobs (they batch objects) and auto-label jobs (the model's loop owns every object)
    post all of them.
    """
    auto_label = getattr(spec, "auto_label", None)
    if spec.task.batched or (auto_label is not None and auto_label.enabled):
        return set()
    attribute = spec.label_attribute_name
    carried = set()
    for index, line in enumerate(lines):
        metadata = line.data.get(f"{attribute}-metadata")
        if attribute in line.data and isinstance(metadata, dict) and FAILURE_REASON_KEY not in metadata:
            carried.add(index)
    return carried


@dataclass(frozen=True)
class LineCheck:
    issues: list[Issue]
    not_for_people: set[int]  # line indices a custom job's pre-annotation hook keeps from the crowd


def line_check(spec: JobSpec, lines: list[ManifestLine]) -> LineCheck:
    """line_issues, plus the objects no person needs to see (broker.hooks: isHumanAnnotationRequired
    false); a custom job's pre-annotation hook runs once per line here."""
    pre = spec.hooks.pre_annotation if spec.hooks is not None else None
    if pre is None:
        return LineCheck(line_issues(spec, lines), set())
    issues, skipped = [], set()
    for index, line in enumerate(lines):
        try:
            if not pre_annotation(pre, spec.job_name, line.data).human_required:
                skipped.add(index)
        except HookError as error:
            issues.append(Issue(spec.input_manifest, line.line_number, "hooks.pre_annotation", str(error)))
    return LineCheck(issues, skipped)


def line_issues(spec: JobSpec, lines: list[ManifestLine]) -> list[Issue]:
    """Every manifest line the task type cannot use, as an Issue (file, line, field): a verification
    job's lines need the label to verify, an adjustment job's the boxes to correct."""
    if spec.verification is not None:
        return check_lines(spec, lines)
    if spec.adjustment is not None:
        issues = []
        for line in lines:
            try:
                initial_boxes(line.data, spec.adjustment.label_attribute, list(spec.labels))
            except InitialBoxesError as error:
                issues.append(Issue(spec.input_manifest, line.line_number, spec.adjustment.label_attribute, str(error)))
        return issues
    return []
