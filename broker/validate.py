"""`broker validate` and `broker preview`: check a job completely before any money moves.

validate: the spec, the whole manifest, every local image, the template rendered for the first
objects and the largest one (like Ground Truth's RenderUiTemplate) and the HTMLQuestion's size,
printing every problem with its file, line and field. preview: one object's rendered HTML in a
file a person can open in a browser (images as file:// URLs, or served by the local marketplace).
"""

from __future__ import annotations

import heapq
import html as html_lib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import typer

from broker.domain.money import cents_to_usd, job_cost_cents
from broker.manifest import (
    ManifestError,
    ManifestLine,
    RejectedLine,
    carried_indices,
    line_check,
    read_manifest,
    write_rejected,
)
from broker.render import render_object_html, template_source
from broker.settings import load_settings
from broker.spec import Issue, JobSpec, SpecError, load_job_spec
from broker.storage import (
    StorageError,
    grant_read_access_for,
    is_s3,
    is_url,
    local_path,
    write_text,
)
from broker.templates import (
    QuestionTooLarge,
    TemplateError,
    html_question,
)
from broker.verify.batching import hit_count

DEFAULT_RENDER_COUNT = 3
MIN_REVIEW_WINDOW_SECONDS = 3600
# Stand-in for a presigned S3 URL while validating: as long as a real one with a session token.
PLACEHOLDER_PRESIGN_SUFFIX = (
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=" + "0" * 64 + "&X-Amz-Security-Token=" + "x" * 800
)


@dataclass
class ValidationReport:
    """What `broker validate` found: issues (errors), warnings, and figures about the job."""

    spec_path: str
    spec: JobSpec | None = None
    lines: list[ManifestLine] = field(default_factory=list)
    rejected: list[RejectedLine] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    question_sizes: dict[int, int] = field(default_factory=dict)  # manifest line -> HTMLQuestion bytes
    max_cost_cents: int | None = None

    @property
    def ok(self) -> bool:
        return not self.issues


def validate_job(
    spec_path: str | Path,
    *,
    settings: Any = None,
    skip_invalid: bool = False,
    render_count: int = DEFAULT_RENDER_COUNT,
) -> ValidationReport:
    """Check everything `broker submit` needs; never contacts a marketplace."""
    report = ValidationReport(str(spec_path))
    try:
        spec = load_job_spec(spec_path, settings=settings)
    except SpecError as error:
        report.issues.extend(error.issues)
        return report
    report.spec = spec
    if spec.streaming:  # no objects yet: the intake tick checks each line as it arrives
        report.warnings.append(f"a streaming job: objects are taken from {spec.input} as they come, checked one by one")
        return report
    try:
        report.lines, report.rejected = read_manifest(
            spec.input_manifest, skip_invalid=skip_invalid, settings=settings, task_type=spec.task_type
        )
    except ManifestError as error:
        report.issues.extend(error.issues)
        return report
    if report.rejected:
        report.warnings.append(
            f"{len(report.rejected)} manifest line(s) rejected and left out: "
            + ", ".join(str(line.line_number) for line in report.rejected[:20])
            + (" ..." if len(report.rejected) > 20 else "")
        )
    report.issues.extend(_source_file_issues(spec, report.lines))
    check = line_check(spec, report.lines)
    report.issues.extend(check.issues)
    if check.not_for_people:
        report.warnings.append(
            f"{len(check.not_for_people)} object(s) need no human annotation (the pre-annotation "
            "hook said so): they are not posted and pass through to the output unlabeled"
        )
    report.issues.extend(_render_issues(spec, report, settings, render_count, check.not_for_people))
    carried = carried_indices(spec, report.lines)
    _money_figures(spec, report, check.not_for_people)
    _chaining_warning(spec, report, carried)
    _review_warning(spec, report)
    return report


def _review_warning(spec: JobSpec, report: ValidationReport) -> None:
    """MTurk approves on its own after auto_approval_delay; a review policy needs time before that."""
    if spec.review_policy.approve != "all" and spec.auto_approval_delay_seconds < MIN_REVIEW_WINDOW_SECONDS:
        report.warnings.append(
            f"auto_approval_delay_seconds is {spec.auto_approval_delay_seconds}: MTurk may approve work before "
            f"the '{spec.review_policy.approve}' review policy judges it (allow at least {MIN_REVIEW_WINDOW_SECONDS})"
        )


def _source_file_issues(spec: JobSpec, lines: list[ManifestLine]) -> list[Issue]:
    """Local images must exist, and can be shown to workers only by the local marketplace."""
    issues: list[Issue] = []
    for line in lines:
        if line.source_key != "source-ref":
            continue
        uri = line.source
        if is_s3(uri) or is_url(uri):
            continue
        if spec.marketplace in ("sandbox", "production"):
            issues.append(
                Issue(
                    spec.input_manifest,
                    line.line_number,
                    "source-ref",
                    f"{uri}: a local file cannot be shown to workers on {spec.marketplace}; upload it to S3",
                )
            )
        elif not local_path(uri).is_file():
            issues.append(Issue(spec.input_manifest, line.line_number, "source-ref", f"{uri}: file not found"))
    return issues


LARGEST_RENDERED = 3  # objects rendered for the 64 KB check, by their size on the page


def page_bytes(data: dict) -> int:
    """An object's size as a page carries it: UTF-8 bytes of its HTML-escaped JSON (quotes and `<`
    grow several-fold), so the object that overflows 64 KB is rendered wherever it is in the manifest."""
    return len(html_lib.escape(json.dumps(data, ensure_ascii=False)).encode("utf-8"))


def _objects_to_render(lines: list[ManifestLine], count: int) -> list[ManifestLine]:
    """The first `count` objects and the largest few on the page (those most likely to overflow 64 KB)."""
    chosen = {line.line_number: line for line in lines[:count]}
    for line in heapq.nlargest(LARGEST_RENDERED, lines, key=lambda line: page_bytes(line.data)):
        chosen.setdefault(line.line_number, line)
    return list(chosen.values())


def _validation_grant(settings: Any) -> Callable[[str], str]:
    """grant_read_access for validation: the URLs publishing will use, with S3 as a full-length
    placeholder (no credentials needed, nothing contacted)."""
    local = grant_read_access_for(settings, worker_site_url=_worker_site(settings))

    def grant(uri: str) -> str:
        if isinstance(uri, str) and is_s3(uri):
            return "https://" + uri.removeprefix("s3://") + PLACEHOLDER_PRESIGN_SUFFIX
        return local(uri)

    return grant


def _worker_site(settings: Any) -> str:
    return getattr(settings, "worker_site_url", None) or "http://127.0.0.1:8765"


def _preview_grant(settings: Any, images: str) -> Callable[[str], str]:
    """grant_read_access for a preview file: s3:// presigned; a local image by its absolute path
    (which a browser resolves to file:// for a page opened from disk) or via the local marketplace."""
    if images == "marketplace":
        return grant_read_access_for(settings, worker_site_url=_worker_site(settings))
    remote = grant_read_access_for(settings)

    def grant(uri: str) -> str:
        if not isinstance(uri, str) or is_s3(uri) or is_url(uri) or not uri:
            return remote(uri)
        return quote(str(local_path(uri).resolve()))

    return grant


def _render_issues(
    spec: JobSpec, report: ValidationReport, settings: Any, count: int, not_for_people: set[int] = frozenset()
) -> list[Issue]:
    """Render the objects workers will see (not those a pre-annotation hook keeps from people)."""
    try:
        source, source_name = template_source(spec, settings)
    except StorageError as error:
        return [Issue(report.spec_path, None, "template", str(error))]
    issues: list[Issue] = []
    grant = _validation_grant(settings)
    shown = [line for index, line in enumerate(report.lines) if index not in not_for_people]
    for line in _objects_to_render(shown, count):
        try:
            html = render_object_html(spec, source, line.data, grant, strict=True)
        except TemplateError as error:
            issues.append(
                Issue(
                    source_name,
                    getattr(error, "line", None),
                    "template",
                    f"{error} (rendering manifest line {line.line_number})",
                )
            )
            break  # the same template error would repeat for every object
        try:
            report.question_sizes[line.line_number] = len(html_question(html, spec.frame_height).encode("utf-8"))
        except QuestionTooLarge as error:
            size = getattr(error, "size_bytes", None) or (error.args[0] if error.args else "?")
            issues.append(
                Issue(
                    spec.input_manifest,
                    line.line_number,
                    line.source_key,
                    f"the HTMLQuestion for this object is {size} bytes; MTurk allows 65,535",
                )
            )
    return issues


def hits_to_post(spec: JobSpec, lines: list[ManifestLine], not_for_people: set[int] = frozenset()) -> int:
    """HITs submit will create for these (checked) lines: one per object, without the lines an earlier job
    labeled (chaining) or a pre-annotation hook keeps from people; one per batch for verification."""
    if spec.task.batched:  # a batch HIT shows objects that share a label
        return hit_count(spec, [line.data for line in lines])
    return len(lines) - len(carried_indices(spec, lines) | set(not_for_people))


def _money_figures(spec: JobSpec, report: ValidationReport, not_for_people: set[int]) -> None:
    assert spec.reward_cents is not None
    if spec.task.batched and report.issues:  # lines it cannot batch: one HIT per line, at most
        hits = len(report.lines)
    else:
        hits = hits_to_post(spec, report.lines, not_for_people)
    report.max_cost_cents = job_cost_cents(hits, spec.reward_cents, spec.workers_per_object, spec.masters)
    if spec.budget_cents is not None and spec.budget_cents < report.max_cost_cents:
        report.warnings.append(
            f"budget_usd {cents_to_usd(spec.budget_cents)} is below the full cost "
            f"{cents_to_usd(report.max_cost_cents)}: publishing stops when the budget is spent, "
            "and the remaining objects fail with 'Budget exhausted'"
        )


def _chaining_warning(spec: JobSpec, report: ValidationReport, carried: set[int]) -> None:
    """What submit will do with lines that already hold this job's label attribute (job chaining)."""
    attribute = spec.label_attribute_name
    if carried:
        report.warnings.append(
            f"{len(carried)} manifest line(s) were already labeled under {attribute!r} by an earlier job: they are "
            "copied to the output unchanged and not posted (use a new label_attribute_name to add a layer)"
        )
    relabeled = sum(1 for index, line in enumerate(report.lines) if attribute in line.data and index not in carried)
    if relabeled:
        report.warnings.append(
            f"{relabeled} manifest line(s) hold {attribute!r} without a finished label (no metadata, or a "
            "failure-reason): this job labels them again and overwrites that value"
        )


def preview_job(
    spec_path: str | Path,
    out_path: str | Path | None = None,
    *,
    settings: Any = None,
    line_number: int | None = None,
    images: Literal["file", "marketplace"] = "file",
) -> Path:
    """Write one object's rendered HTML (the first, or manifest line `line_number`) to a file.

    images="file": local images by absolute path (file:// when the page is opened from disk);
    "marketplace": served by the local marketplace's /local-files/ (its file_roots must hold them).
    """
    spec = load_job_spec(spec_path, settings=settings)
    if spec.streaming:
        problem = "a streaming job has no manifest to preview a line of"
        raise ManifestError([Issue(str(spec_path), None, "input", problem)])
    lines, _ = read_manifest(spec.input_manifest, skip_invalid=True, settings=settings, task_type=spec.task_type)
    if line_number is None:
        line = lines[0]
    else:
        matches = [line for line in lines if line.line_number == line_number]
        if not matches:
            raise ManifestError([Issue(spec.input_manifest, line_number, "", "no valid data object on this line")])
        line = matches[0]
    grant = _preview_grant(settings, images)
    source, _ = template_source(spec, settings)
    html = render_object_html(spec, source, line.data, grant)
    target = Path(out_path) if out_path else Path(f"{spec.job_name}-preview.html")
    write_text(str(target), html)
    return target


# --------------------------------------------------------------------------------------------
# CLI commands (registered in broker/cli.py)


def _settings(ctx: typer.Context | None, path: Path | None) -> Any:
    """The command's --settings, else the global `broker --settings`, else $BROKER_SETTINGS."""
    if path is None and ctx is not None and isinstance(ctx.obj, dict):
        path = ctx.obj.get("settings_path")
    return load_settings(path)


def validate_command(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="The job spec (YAML)."),
    settings_file: Path | None = typer.Option(None, "--settings", help="Settings file (default: $BROKER_SETTINGS)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Leave out bad manifest lines instead of failing."),
    rejected_out: Path | None = typer.Option(
        None, "--rejected-out", help="With --skip-invalid: write the bad lines here."
    ),
    render: int = typer.Option(
        DEFAULT_RENDER_COUNT, "--render", min=1, help="Render this many objects (plus the largest)."
    ),
) -> None:
    """Check a job spec, its whole manifest and its template; print every error with file, line and field."""
    try:
        settings = _settings(ctx, settings_file)
    except SpecError as error:
        _print_issues(error.issues)
        raise typer.Exit(2) from error
    report = validate_job(spec, settings=settings, skip_invalid=skip_invalid, render_count=render)
    if report.rejected and rejected_out is not None:
        write_rejected(report.rejected, str(rejected_out), settings)
        typer.echo(f"rejected lines written to {rejected_out}")
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not report.ok:
        _print_issues(report.issues)
        typer.echo(f"{len(report.issues)} error(s); nothing would be submitted.", err=True)
        raise typer.Exit(1)
    assert report.spec is not None
    if report.spec.streaming:
        typer.echo(
            f"OK: {report.spec.job_name}: a streaming job from {report.spec.input}, "
            f"{report.spec.workers_per_object} workers each, reward ${cents_to_usd(report.spec.reward_cents or 0)}"
        )
        return
    largest = max(report.question_sizes.values(), default=0)
    typer.echo(
        f"OK: {report.spec.job_name}: {len(report.lines)} objects, {report.spec.workers_per_object} workers each, "
        f"reward ${cents_to_usd(report.spec.reward_cents or 0)}; at most ${cents_to_usd(report.max_cost_cents or 0)} "
        f"with MTurk fees; largest HTMLQuestion {largest:,} bytes of 65,535"
    )


def preview_command(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="The job spec (YAML)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="HTML file to write (default: <job>-preview.html)."),
    line: int | None = typer.Option(None, "--line", help="Manifest line to preview (default: the first object)."),
    images: str = typer.Option("file", "--images", help="'file' (file:// URLs) or 'marketplace' (local worker site)."),
    settings_file: Path | None = typer.Option(None, "--settings", help="Settings file (default: $BROKER_SETTINGS)."),
) -> None:
    """Write the rendered HTML of one data object to a file you can open in a browser."""
    if images not in ("file", "marketplace"):
        raise typer.BadParameter("use 'file' or 'marketplace'", param_hint="--images")
    try:
        settings = _settings(ctx, settings_file)
        path = preview_job(spec, out, settings=settings, line_number=line, images=images)  # type: ignore[arg-type]
    except (SpecError, ManifestError) as error:
        _print_issues(error.issues)
        raise typer.Exit(1) from error
    except StorageError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    except TemplateError as error:
        typer.echo(f"template error (line {getattr(error, 'line', '?')}): {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"wrote {path.resolve()}  (open it in a browser: {path.resolve().as_uri()})")


def _print_issues(issues: list[Issue]) -> None:
    for issue in issues:
        typer.echo(f"error: {issue}", err=True)
