"""What the console's pages show and what its buttons do, as plain data over the broker DB.

Every action calls the function its CLI command calls (broker.commands: review, block, unblock,
message, bonus), so the console and `broker review` / `broker worker ...` cannot drift apart. A
failed marketplace call comes back as one line (`ActionResult.error`), never a traceback; the
commands themselves record nothing that was not done (a bonus that never reached MTurk is withdrawn).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from broker import mturk
from broker.actions.bonuses import WorkerActionError
from broker.actions.hits import PublishError, grant_read_access_for
from broker.autolabel.report import summary_rows
from broker.commands import (
    REVIEW_FLAGS,
    ReviewFilter,
    ReviewItem,
    block_worker,
    message_workers,
    review_answers,
    review_queue,
    send_bonus,
    unblock_worker,
)
from broker.domain.money import MoneyError, usd_to_cents
from broker.experiments import load_experiment_spec
from broker.experiments.pricing import experiment_results
from broker.experiments.report import results_html
from broker.render import render_object_html
from broker.reports.status import JobStatusReport, flagged_worker_count, format_eta, job_status
from broker.reports.workers import WorkerRow, worker_report
from broker.spec import SpecError
from broker.storage import is_s3, is_url, local_path
from broker.store import Job, reading
from broker.store.engine import Engine
from broker.store.jobs import UnknownJobError, find_job, job_spec
from broker.store.views import all_jobs, object_answers, object_at, object_results, worker_marketplaces
from broker.templates import TemplateError

OBJECTS_PER_PAGE = 100
SHORT_TEXT = 120


@dataclass(frozen=True)
class ActionResult:
    """What a button did: a line to show, and whether it failed."""

    message: str
    error: bool = False


def usd(cents: int | None) -> str:
    return "-" if cents is None else f"${cents // 100:,}.{cents % 100:02d}"


def _short(text: str | None, limit: int = SHORT_TEXT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label_text(label_json: str | None, labels: list[str]) -> str:
    """A consolidated label or a worker's chosen classes in words; other shapes as short JSON."""
    if label_json is None:
        return "-"
    value = json.loads(label_json)
    indices = value if isinstance(value, list) else [value]
    if labels and indices and all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
        return ", ".join(labels[i] if 0 <= i < len(labels) else str(i) for i in indices)
    return _short(label_json)


def confidence_text(confidence_json: str | None) -> str:
    if confidence_json is None:
        return "-"
    value = json.loads(confidence_json)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.2f}"
    if isinstance(value, dict) and value and all(isinstance(v, (int, float)) for v in value.values()):
        return ", ".join(f"{k} {v:.2f}" for k, v in value.items())
    return _short(confidence_json, 60)


def _job(session: Any, name: str) -> Job:
    return find_job(session, name)


# ----------------------------------------------------------------------------------------- files


class FileSigner:
    """Console URLs for a job's local files, signed with a secret of this console process.

    A HIT runs in a sandboxed frame (an opaque origin), whose requests carry no session cookie;
    the signature is what lets exactly the files the console's own pages name through, also
    when the local marketplace that served them to the workers is no longer running.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, absolute: str) -> str:
        return hmac.new(self._secret, absolute.encode("utf-8"), hashlib.sha256).hexdigest()[:40]

    def url(self, uri: str) -> str:
        absolute = str(local_path(uri).resolve())
        return f"/files/{self._sign(absolute)}/{quote(absolute.lstrip('/'))}"

    def path(self, signature: str, rest: str) -> Path | None:
        """The file a signed URL names, None when the signature is wrong or the file is gone."""
        absolute = "/" + rest.lstrip("/")
        if not hmac.compare_digest(signature.encode(), self._sign(absolute).encode()):
            return None
        path = Path(absolute)
        return path if path.is_file() else None


def console_grant(job: Job, settings: Any, signer: FileSigner) -> Callable[[str], str]:
    """Publishing's grant_read_access (presigned S3, URLs as they are), with a local marketplace's
    files served by the console itself."""
    target = mturk.resolve_target(job.marketplace, settings)
    remote = grant_read_access_for(target, settings)

    def grant(uri: str) -> str:
        uri = str(uri)
        if target.is_local and uri and not is_url(uri) and not is_s3(uri):
            return signer.url(uri)
        return remote(uri)

    return grant


# ----------------------------------------------------------------------------------------- jobs


class FlaggedCounts:
    """Flagged workers per job, refitted only when the job's answers or reviews changed (the jobs
    page asks every few seconds; the worker model is fitted once per change)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[tuple[int, ...], int]] = {}

    def count(self, session: Any, job: Job, report: JobStatusReport) -> int:
        key = (job.answers_version, job.outcomes_version, report.approved, report.rejected, report.awaiting_review)
        cached = self._seen.get(job.id)
        if cached is None or cached[0] != key:
            cached = (key, flagged_worker_count(session, job))
            self._seen[job.id] = cached
        return cached[1]


def job_summary(report: JobStatusReport, flagged: int) -> dict[str, Any]:
    """One job's live figures for the jobs page and its JSON endpoint."""
    done = report.answered + report.failed + report.carried
    return {
        **report.as_dict(),
        "flagged_workers": flagged,
        "progress": round(done / report.objects, 4) if report.objects else 1.0,
        "spent": usd(report.spent_cents),
        "committed": usd(report.committed_cents),
        "budget": usd(report.budget_cents) if report.budget_cents is not None else "none",
        "eta": format_eta(report.eta_seconds),
    }


def jobs_overview(engine: Engine, flagged: FlaggedCounts) -> list[dict[str, Any]]:
    with reading(engine) as session:
        summaries = []
        for job in all_jobs(session):
            report = job_status(session, job)
            summaries.append(job_summary(report, flagged.count(session, job, report)))
    return summaries


def job_overview(engine: Engine, name: str, flagged: FlaggedCounts) -> dict[str, Any]:
    with reading(engine) as session:
        job = _job(session, name)
        report = job_status(session, job)
        return job_summary(report, flagged.count(session, job, report))


@dataclass(frozen=True)
class ObjectRow:
    index: int
    status: str
    shows: str  # the object's source or source-ref, shortened
    label: str
    confidence: str


@dataclass(frozen=True)
class JobPage:
    name: str
    task_type: str
    labels: list[str]
    auto_label: list[tuple[str, str]]
    objects: list[ObjectRow]
    total_objects: int
    offset: int
    per_page: int


def _shows(data_json: str) -> str:
    """An object's text, or the end of its file's path or URI (where the names differ)."""
    data = json.loads(data_json)
    ref = data.get("source-ref")
    if isinstance(ref, str):
        return ref if len(ref) <= 80 else "…" + ref[-79:]
    if isinstance(data.get("source"), str):
        return _short(data["source"], 80)
    return _short(data_json, 80)


def job_page(engine: Engine, name: str, offset: int = 0) -> JobPage:
    with reading(engine) as session:
        job = _job(session, name)
        report = job_status(session, job)
        results = object_results(session, job.id)
    labels = job.labels
    offset = max(0, min(offset, max(len(results) - 1, 0)))
    rows = [
        ObjectRow(
            r.index, r.status, _shows(r.data_json), label_text(r.label_json, labels), confidence_text(r.confidence_json)
        )
        for r in results[offset : offset + OBJECTS_PER_PAGE]
    ]
    return JobPage(
        name=job.name,
        task_type=job.task_type,
        labels=labels,
        auto_label=summary_rows(report.auto_label) if report.auto_label else [],
        objects=rows,
        total_objects=len(results),
        offset=offset,
        per_page=OBJECTS_PER_PAGE,
    )


# ----------------------------------------------------------------------------------------- one object


@dataclass(frozen=True)
class AnswerRow:
    assignment_id: str
    worker_id: str
    answer: str
    error: str
    review_status: str
    review_message: str
    submitted: str


@dataclass(frozen=True)
class ObjectPage:
    job: str
    index: int
    status: str
    failure_reason: str
    data: str  # the manifest line
    label: str
    confidence: str
    answers: list[AnswerRow]
    hit_html: str  # the page the workers were shown
    render_error: str
    previous: int | None
    next: int | None


def _answer_text(answer_json: str | None, chosen_json: str | None, labels: list[str]) -> str:
    if chosen_json is not None and labels:
        return label_text(chosen_json, labels)
    return _short(answer_json, 300)


def object_page(engine: Engine, settings: Any, name: str, index: int, signer: FileSigner) -> ObjectPage | None:
    """The object's answers, its label and its HIT rendered through the publish path (same template,
    same data; local files through the console), or None when the job has no such object."""
    with reading(engine) as session:
        job = _job(session, name)
        obj = object_at(session, job.id, index)
        if obj is None:
            return None
        answers = object_answers(session, obj.id)
        n_objects = job.n_objects
    labels = job.labels
    html, error = "", ""
    try:
        html = render_object_html(job_spec(job), job.template_source, obj.data, console_grant(job, settings, signer))
    except (PublishError, TemplateError, SpecError, ValueError, OSError) as exc:
        error = f"cannot render the HIT: {_short(str(exc), 300)}"
    return ObjectPage(
        job=job.name,
        index=obj.index,
        status=obj.status,
        failure_reason=obj.failure_reason or "",
        data=_short(obj.data_json, 2000),
        label=label_text(obj.label_json, labels),
        confidence=confidence_text(obj.confidence_json),
        answers=[
            AnswerRow(
                a.assignment_id,
                a.worker_id,
                _answer_text(a.answer_json, a.chosen_json, labels),
                _short(a.answer_error, 300),
                a.review_status,
                a.review_message or "",
                a.submit_time.strftime("%Y-%m-%d %H:%M:%S UTC") if a.submit_time else "-",
            )
            for a in answers
        ],
        hit_html=html,
        render_error=error,
        previous=obj.index - 1 if obj.index > 0 else None,
        next=obj.index + 1 if obj.index + 1 < n_objects else None,
    )


# ----------------------------------------------------------------------------------------- review


@dataclass(frozen=True)
class ReviewRequest:
    """A posted review form: which answers (one, the ticked ones, or all the filter keeps) and the verdict."""

    approve: bool
    assignment_ids: tuple[str, ...]  # empty with by_rule: every answer the filter keeps
    by_rule: bool
    reason: str
    rule: ReviewFilter = field(default_factory=ReviewFilter)


def review_filter(worker: str, max_agreement: str, flag: str) -> ReviewFilter:
    """The queue's filters as `broker review` takes them (--worker, --max-agreement, --flag)."""
    try:
        agreement = float(max_agreement) if max_agreement.strip() else None
    except ValueError:
        agreement = None
    return ReviewFilter(
        worker_ids=tuple(w for w in [worker.strip()] if w),
        max_agreement=agreement,
        flags=tuple(f for f in [flag] if f in REVIEW_FLAGS),
    )


@dataclass(frozen=True)
class Shown:
    """What an object shows the worker, for the review queue: an image's URL, or a text."""

    image_url: str
    text: str


IMAGE_TASKS = ("image-", "bounding-box", "semantic-segmentation")


def _object_shown(job: Job, data_json: str, grant: Any) -> Shown:
    data = json.loads(data_json)
    ref, text = data.get("source-ref"), data.get("source")
    if isinstance(ref, str) and job.task_type.startswith(IMAGE_TASKS):
        try:
            return Shown(grant(ref), "")
        except (PublishError, ValueError, OSError):
            return Shown("", _short(ref, 80))
    return Shown("", _short(text if isinstance(text, str) else ref if isinstance(ref, str) else data_json, 160))


def review_items(
    engine: Engine, settings: Any, name: str, rule: ReviewFilter, signer: FileSigner
) -> tuple[Job, list[ReviewItem], dict[int, Shown]]:
    """The queue `broker review` lists, with what each answer's object shows (an image or a text)."""
    with reading(engine) as session:
        job = _job(session, name)
        results = object_results(session, job.id)
    items = review_queue(engine, job, rule)
    wanted = {item.object_index for item in items}
    grant = console_grant(job, settings, signer)
    shown = {r.index: _object_shown(job, r.data_json, grant) for r in results if r.index in wanted}
    return job, items, shown


def review(engine: Engine, settings: Any, name: str, request: ReviewRequest) -> ActionResult:
    """`broker review JOB --approve/--reject ID` or `--approve-all/--reject-all` with the filters."""
    if not request.approve and not request.reason.strip():
        return ActionResult("rejecting needs a reason: the worker is told why", error=True)
    with reading(engine) as session:
        job = _job(session, name)
    if request.by_rule:
        items = review_queue(engine, job, request.rule)
    else:
        if not request.assignment_ids:
            return ActionResult("no answer chosen", error=True)
        items = review_queue(engine, job, ReviewFilter(assignment_ids=request.assignment_ids))
        missing = sorted(set(request.assignment_ids) - {item.assignment_id for item in items})
        if missing:
            return ActionResult(f"{', '.join(missing)}: not waiting for review in job {name}", error=True)
    if not items:
        return ActionResult("no answers wait for review with these filters", error=True)
    try:
        report = review_answers(engine, settings, job, items, approve=request.approve, reason=request.reason)
    except WorkerActionError as exc:
        return ActionResult(str(exc), error=True)
    except (ClientError, BotoCoreError) as exc:
        return ActionResult(mturk.describe_error(exc), error=True)
    line = f"{report.approved} approved, {report.rejected} rejected" + (
        f", {report.settled} already decided on the marketplace" if report.settled else ""
    )
    if report.errors:
        return ActionResult(f"{line}; {len(report.errors)} failed: {_short(report.errors[0], 300)}", error=True)
    return ActionResult(line)


# ----------------------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class WorkersPage:
    jobs: list[str]
    job: str | None  # the one job shown, None for every job
    rows: list[WorkerRow]
    block_reasons: dict[str, str]  # the reason the worker report's suggested block command gives


def suggested_block_reason(row: WorkerRow) -> str:
    """The --reason of the `broker worker block` command the worker report suggests, "" when none."""
    for action in row.actions:
        words = shlex.split(action)
        if words[1:3] == ["worker", "block"] and "--reason" in words:
            return words[words.index("--reason") + 1]
    return ""


def workers_page(engine: Engine, name: str | None) -> WorkersPage:
    with reading(engine) as session:
        jobs = [_job(session, name)] if name else all_jobs(session)
        report = worker_report(session, jobs)
        names = [j.name for j in all_jobs(session)]
    rows = sorted(report.rows, key=lambda r: (not r.flags, -r.assignments, r.worker_id))
    reasons = {r.worker_id: suggested_block_reason(r) for r in rows}
    return WorkersPage(jobs=names, job=name, rows=rows, block_reasons=reasons)


def _clients(engine: Engine, settings: Any, worker_id: str) -> list[Any]:
    """A quick-failing client per marketplace the worker answered on (`local` when none is known)."""
    with reading(engine) as session:
        marketplaces = worker_marketplaces(session, worker_id) or ["local"]
    return [mturk.client_for(mturk.resolve_target(m, settings), quick=True) for m in marketplaces]


def _marketplace_failure(exc: Exception) -> ActionResult:
    if isinstance(exc, (ClientError, BotoCoreError)):
        return ActionResult(mturk.describe_error(exc), error=True)
    return ActionResult(str(exc), error=True)


def block(engine: Engine, settings: Any, worker_id: str, reason: str) -> ActionResult:
    """`broker worker block WORKER --reason ...` on each marketplace the worker answered on."""
    return _on_each_marketplace(engine, settings, worker_id, reason, block_worker, f"blocked {worker_id}")


def unblock(engine: Engine, settings: Any, worker_id: str, reason: str) -> ActionResult:
    return _on_each_marketplace(engine, settings, worker_id, reason, unblock_worker, f"unblocked {worker_id}")


def _on_each_marketplace(
    engine: Engine, settings: Any, worker_id: str, reason: str, action: Callable[..., Any], done: str
) -> ActionResult:
    try:
        for client in _clients(engine, settings, worker_id):
            action(engine, client, worker_id, reason)
    except (WorkerActionError, ClientError, BotoCoreError) as exc:
        return _marketplace_failure(exc)
    return ActionResult(done)


def message(engine: Engine, settings: Any, worker_id: str, subject: str, body: str) -> ActionResult:
    if not subject.strip() or not body.strip():
        return ActionResult("a message needs a subject and a text", error=True)
    try:
        failures = [
            failure
            for client in _clients(engine, settings, worker_id)
            for failure in message_workers(client, [worker_id], subject, body)
        ]
    except (ClientError, BotoCoreError) as exc:
        return _marketplace_failure(exc)
    if failures:
        return ActionResult(f"{worker_id}: {failures[0].get('NotifyWorkersFailureMessage')}", error=True)
    return ActionResult(f"messaged {worker_id}")


def bonus(engine: Engine, settings: Any, worker_id: str, assignment_id: str, amount: str, reason: str) -> ActionResult:
    """`broker worker bonus`: paid once (its token); a bonus that never reached MTurk is not recorded."""
    try:
        sent = send_bonus(engine, settings, worker_id, assignment_id, usd_to_cents(amount), reason)
    except (MoneyError, WorkerActionError) as exc:
        return ActionResult(str(exc), error=True)
    except (ClientError, BotoCoreError) as exc:
        return ActionResult(
            f"bonus not confirmed: {mturk.describe_error(exc)}; press again (its token keeps MTurk from paying twice)",
            error=True,
        )
    return ActionResult(f"bonus {usd(sent.amount_cents)} (+{usd(sent.fee_cents)} fee) sent to {worker_id}")


# ----------------------------------------------------------------------------------------- experiments


def experiment_report(engine: Engine, spec_path: str) -> tuple[str, str]:
    """(experiment name, the self-contained HTML report `broker experiment pricing --report --html` writes)."""
    spec = load_experiment_spec(spec_path)
    with reading(engine) as session:
        analysis = experiment_results(session, spec)
    return spec.experiment, results_html(analysis)


__all__ = ["UnknownJobError"]
