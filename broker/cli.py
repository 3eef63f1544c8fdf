"""The `broker` command line: one typer app, sub-commands from the modules that own them."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from broker import mturk
from broker.actions.bonuses import WorkerActionError
from broker.autolabel.report import summary_rows
from broker.commands import (
    REVIEW_FLAGS,
    ReviewFilter,
    block_worker,
    cancel_job,
    message_workers,
    review_answers,
    review_queue,
    send_bonus,
    stop_streaming_job,
    unblock_worker,
)
from broker.completion import FittedCompletion, fitted_completion_from_json
from broker.console import ConsoleConfig, serve
from broker.daemon import install_signal_handlers, run_cycle, run_until_done
from broker.demo import DEMO_TASKS, DemoOptions, run_demo
from broker.domain.money import MoneyError, usd_to_cents
from broker.estimate import (
    completion_rows,
    count_manifest_objects,
    estimate_completion,
    estimate_rows,
    estimate_spec,
)
from broker.experiments import load_experiment_spec, submit_experiment
from broker.experiments.pricing import experiment_results
from broker.experiments.report import results_html, results_table, write_results_csv
from broker.export import (
    DETECTION_TYPE,
    FORMATS,
    SPAN_TYPE,
    ExportError,
    boxes_csv,
    class_names,
    export_files,
    manifest_csv,
    manifest_type,
    read_detections,
    spans_csv,
)
from broker.manifest import ManifestError, write_rejected
from broker.marketplace.cli import app as marketplace_app
from broker.marketplace.history import parse_history
from broker.reports.cli import _settings as settings_of
from broker.reports.cli import db_url_of, open_engine, report_app, wide_console
from broker.reports.status import JobStatusReport, calls_line, format_eta, job_status
from broker.simulation import simulate_pricing_experiment
from broker.spec import SpecError, SubmitError, load_job_spec, parse_duration
from broker.stages.submit import submit_job
from broker.storage import read_text
from broker.store import database_exists, migrate, reading, sqlite_file
from broker.store.claims import register_daemon
from broker.store.jobs import UnknownJobError, find_job, job_spec
from broker.store.ratelimit import call_counts
from broker.store.views import all_jobs, jobs_not_completed
from broker.teams import TeamError, add_member, create_team, invite, list_teams, remove_member, team_members
from broker.validate import preview_command, validate_command, validate_job
from broker.workforce import WorkforceError

app = typer.Typer(no_args_is_help=True, help="crowd-broker: Ground Truth-style labeling on Mechanical Turk.")
app.add_typer(marketplace_app, name="marketplace", help="The embedded MTurk-compatible marketplace.")
worker_app = typer.Typer(no_args_is_help=True, help="Pay, block, unblock and message workers.")
app.add_typer(worker_app, name="worker")
team_app = typer.Typer(no_args_is_help=True, help="Private work teams: create, invite, list, members.")
app.add_typer(team_app, name="team")
app.command("validate")(validate_command)
app.command("preview")(preview_command)
app.add_typer(report_app, name="report", help="Worker and job statistics: terminal table, CSV, HTML.")
experiment_app = typer.Typer(no_args_is_help=True, help="Pricing experiments: arms that differ in reward.")
app.add_typer(experiment_app, name="experiment")

console = wide_console()
err_console = wide_console(stderr=True)
RUN_LOG = "broker-run.log"


# ----------------------------------------------------------------------------------------- plumbing


@app.callback()
def _global(
    ctx: typer.Context,
    settings: Path | None = typer.Option(
        None,
        "--settings",
        envvar="BROKER_SETTINGS",
        help="Settings YAML (default: config/defaults.yaml + BROKER_* env).",
    ),
    db: str | None = typer.Option(
        None, "--db", help="The broker DB: a SQLite file or a database URL (default: the settings' db_url)."
    ),
) -> None:
    ctx.obj = {"settings_path": settings, "db_url": db_url_of(db)}


def _settings(ctx: typer.Context) -> Any:
    return settings_of(ctx)


def _engine(settings: Any, *, create: bool = False) -> Any:
    return open_engine(settings, create=create)


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _usd(cents: int | None) -> str:
    return "-" if cents is None else f"${cents // 100}.{cents % 100:02d}"


# ----------------------------------------------------------------------------------------- jobs


@app.command()
def submit(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="Job spec YAML."),
    skip_invalid_lines: bool = typer.Option(False, help="Leave out invalid manifest lines instead of failing."),
) -> None:
    """Check a job as `broker validate` does (every line), check the marketplace answers, and queue the job."""
    settings = _settings(ctx)
    report = validate_job(spec, settings=settings, skip_invalid=skip_invalid_lines)
    if report.issues:
        for issue in report.issues:
            err_console.print(f"error: {issue}", highlight=False, markup=False)
        _fail(f"{len(report.issues)} problem(s) (as `broker validate` reports them); nothing submitted")
    assert report.spec is not None
    if report.rejected:
        rejected_file = Path(f"{report.spec.job_name}-rejected.manifest")
        write_rejected(report.rejected, str(rejected_file), settings)
        err_console.print(f"{len(report.rejected)} invalid lines left out: written to {rejected_file}", highlight=False)
    target = mturk.resolve_target(report.spec.marketplace, settings)
    try:
        mturk.check_marketplace(target)
    except (BotoCoreError, ClientError) as exc:
        _fail(f"{spec}: marketplace {report.spec.marketplace}: {mturk.describe_error(exc)}; nothing submitted")
    try:
        submitted = submit_job(spec, _engine(settings, create=True), settings, skip_invalid_lines=skip_invalid_lines)
    except (SpecError, ManifestError, SubmitError) as exc:
        _fail(str(exc))
    except Exception as exc:  # template errors and the like: their message names file and line
        if type(exc).__name__ in ("PublishError", "TemplateError", "QuestionTooLarge", "StorageError"):
            _fail(str(exc))
        raise
    if report.spec.streaming:
        console.print(
            f"submitted streaming job [bold]{submitted.name}[/]: objects are taken from {report.spec.input} "
            f"as they come; `broker stop {submitted.name}` ends it",
            highlight=False,
        )
        return
    console.print(
        f"submitted job [bold]{submitted.name}[/]: {submitted.n_objects} objects"
        + (f" ({submitted.n_rejected_lines} invalid lines left out)" if submitted.n_rejected_lines else ""),
        highlight=False,
    )


def _log_path(settings: Any, given: Path | None) -> Path:
    """The daemon's full log: --log-file, else beside a SQLite DB, else in the current folder."""
    if given is not None:
        return given
    db_file = sqlite_file(settings.db_url)
    return (db_file.parent if db_file is not None else Path(".")) / RUN_LOG


def _log_to(path: Path) -> None:
    """Every logger (the broker's, APScheduler's, botocore's warnings) goes to the file, none to the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(RUN_LOG)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == RUN_LOG]:  # a second `run` in one process
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)  # with a handler on the root, nothing falls through to the terminal
    root.setLevel(logging.INFO)


class RunReporter:
    """What `broker run` prints: a line per job when its progress moves, each new error once, as one line."""

    def __init__(self, engine: Any, progress: Any = None):
        self.engine = engine
        self.progress = progress
        self.bars: dict[str, Any] = {}
        self.shown: dict[str, str] = {}  # job -> last progress line
        self.errors: dict[str, str] = {}  # "stage: job" -> last error shown

    def on_tick(self, name: str, result: Any) -> None:
        failing = set()
        for error in getattr(result, "errors", []):
            key = ": ".join(error.split(": ", 2)[:2])
            failing.add(key)
            if self.errors.get(key) != error:
                self.errors[key] = error
                self._print(f"[yellow]error:[/] {escape(error)}", stderr=True)
        for key in [k for k in self.errors if k.startswith(f"{name}: ") and k not in failing]:
            self._print(f"{escape(key)}: working again")
            del self.errors[key]
        if name in ("publish", "collect", "consolidate", "finalize"):
            self.show_jobs()

    def show_jobs(self) -> None:
        with reading(self.engine) as session:
            reports = [job_status(session, job) for job in jobs_not_completed(session)]
            finished = [job_status(session, job) for job in all_jobs(session) if job.name in self.shown]
        for report in {r.name: r for r in [*finished, *reports]}.values():
            line = _progress_line(report)
            if self.progress is not None:
                if report.name not in self.bars:
                    self.bars[report.name] = self.progress.add_task(report.name, total=report.objects)
                self.progress.update(
                    self.bars[report.name],
                    completed=report.answered + report.failed + report.carried,
                    description=_bar_label(report),
                )
                if report.attention and self.shown.get(report.name) != line:
                    self._print(escape(line))
            elif self.shown.get(report.name) != line:
                self._print(escape(line))
            self.shown[report.name] = line

    def _print(self, text: str, *, stderr: bool = False) -> None:
        target = self.progress.console if self.progress is not None else (err_console if stderr else console)
        target.print(text, highlight=False)


def _bar_label(r: JobStatusReport) -> str:
    """A progress bar's label: short, so the bar fits a terminal; attention in red."""
    failing = ", ".join(a["stage"] for a in r.attention)
    return (
        f"{r.name} {r.consolidated} labeled, {r.failed} failed, {r.awaiting_review} to review, {_usd(r.spent_cents)}"
        + (f" [bold red]{failing} failing[/]" if failing else "")
    )


def _progress_line(r: JobStatusReport) -> str:
    attention = "; ".join(f"{a['stage']} failing x{a['count']}: {a['error']}" for a in r.attention)
    return (
        f"{r.name}: {r.status}, {r.published}/{r.objects} published, {r.answered} answered, {r.consolidated} labeled,"
        f" {r.failed} failed, {r.awaiting_review} to review, spent {_usd(r.spent_cents)}"
        + (f" [attention: {attention}]" if attention else "")
    )


@app.command()
def run(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Run every tick once and exit (1 when a tick failed)."),
    log_file: Path | None = typer.Option(
        None, "--log-file", help=f"Full log of every tick (default: {RUN_LOG} beside the SQLite DB)."
    ),
) -> None:
    """Run the daemon: publish, collect, review, consolidate, finalize until every job is done."""
    settings = _settings(ctx)
    engine = _engine(settings)
    path = _log_path(settings, log_file)
    _log_to(path)
    console.print(f"broker run: full log in {path}", highlight=False)
    chosen = (ctx.find_root().obj or {}).get("settings_path") or "the default settings"
    for owner, other in register_daemon(engine, settings.digest(), str(chosen)):
        err_console.print(
            f"[yellow]warning:[/] daemon {escape(owner)} runs on this DB with other settings ({escape(other)}) than"
            f" this one ({escape(str(chosen))}): rate limits, tick intervals or endpoints differ; give every daemon"
            " the same settings",
            highlight=False,
        )
    if once:
        reporter = RunReporter(engine)
        cycle = run_cycle(engine, settings)
        for error in cycle.errors:
            err_console.print(f"[yellow]error:[/] {escape(error)}", highlight=False)
        reporter.show_jobs()
        if cycle.errors:
            raise typer.Exit(1)
        return
    stop = threading.Event()
    install_signal_handlers(stop)
    if not console.is_terminal:
        reporter = RunReporter(engine)
        reporter.show_jobs()
        done = run_until_done(engine, settings, stop=stop, on_tick=reporter.on_tick)
    else:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            reporter = RunReporter(engine, progress)
            done = run_until_done(engine, settings, stop=stop, on_tick=reporter.on_tick)
    console.print("all jobs done" if done else "stopped")


@app.command()
def collect(
    ctx: typer.Context,
    once: bool = typer.Option(True, "--once", help="Collect once and exit (`broker run` collects continuously)."),
) -> None:
    """Collect submitted assignments now, review and consolidate them; publishes nothing."""
    settings = _settings(ctx)
    cycle = run_cycle(_engine(settings), settings, ticks=("collect", "review", "consolidate", "output", "finalize"))
    report = cycle.reports["collect"]
    console.print(
        f"collected {report.total('assignments_stored')} assignments from {report.total('hits_collected')} HITs"
        f" ({report.total('hits_extended')} extended)"
    )
    for error in cycle.errors:
        err_console.print(f"[yellow]error:[/] {escape(error)}", highlight=False)
    if cycle.errors:
        raise typer.Exit(1)


@app.command()
def status(
    ctx: typer.Context,
    job: str | None = typer.Argument(None, help="Job name (default: all jobs)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Objects published, answered, consolidated; money spent and committed; ETA."""
    settings = _settings(ctx)
    with reading(_engine(settings)) as session:
        try:
            jobs = [find_job(session, job)] if job else all_jobs(session)
        except UnknownJobError as exc:
            _fail(str(exc))
        reports = [job_status(session, j, flagged=True) for j in jobs]
    if as_json:
        print(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
        return
    if not reports:
        console.print("no jobs")
        return
    if job:
        console.print(_job_table(reports[0]))
        return
    table = Table(title="jobs")
    for column in ("job", "status", "answered", "labeled", "failed", "spent", "committed", "ETA", "flagged"):
        table.add_column(column, justify="left" if column in ("job", "status") else "right", no_wrap=True)
    for r in reports:
        table.add_row(
            r.name,
            r.status + (" [bold red](attention)[/]" if r.attention else ""),
            f"{r.answered}/{r.objects}",
            str(r.consolidated),
            str(r.failed),
            _usd(r.spent_cents),
            _usd(r.committed_cents),
            format_eta(r.eta_seconds),
            str(r.flagged_workers),
        )
    console.print(table)
    with reading(_engine(settings)) as session:
        console.print(f"MTurk calls (all jobs): {calls_line(call_counts(session))}", highlight=False)
    for r in reports:
        for line in _attention_lines(r):
            console.print(f"[bold red]attention:[/] {r.name}: {escape(line)}", highlight=False)


def _attention_lines(r: JobStatusReport) -> list[str]:
    intake = [f"intake: {r.intake}"] if r.intake else []
    return intake + [
        f"{a['stage']} has failed {a['count']} times in a row since {a['since'][:19].replace('T', ' ')} UTC:"
        f" {a['error']} (full detail in {RUN_LOG})"
        for a in r.attention
    ]


def _job_table(r: JobStatusReport) -> Table:
    """One job in detail: objects at each stage, HITs, assignments, money, ETA, output."""
    table = Table(title=f"job {r.name}", show_header=False)
    rows = [
        ("status", f"{r.status} ({r.task_type})"),
        (
            "objects",
            f"{r.objects}: {r.published} published, {r.answered} answered, {r.consolidated} consolidated,"
            f" {r.failed} failed, {r.pending} waiting"
            + (f", {r.carried} carried over from an earlier job" if r.carried else ""),
        ),
        ("HITs open", str(r.hits_open)),
        (
            "assignments",
            f"{r.assignments}: {r.approved} approved, {r.rejected} rejected, {r.awaiting_review} awaiting review",
        ),
        ("spent (rewards + fees)", _usd(r.spent_cents)),
        ("committed (may still be paid)", _usd(r.committed_cents)),
        ("budget", _usd(r.budget_cents)),
        ("ETA", format_eta(r.eta_seconds)),
        ("flagged workers", _flagged_line(r)),
        ("MTurk calls", calls_line(r.mturk_calls)),
    ]
    if r.auto_label:
        rows += summary_rows(r.auto_label)
    rows += [("attention", line) for line in _attention_lines(r)]
    for key, value in rows:
        table.add_row(key, value)
    table.add_row("output manifest", Text(r.output_manifest or "-", overflow="fold"))
    return table


def _flagged_line(r: JobStatusReport) -> str:
    if not r.flagged_workers:
        return "0"
    return f"{r.flagged_workers} (why and what to do: broker report workers {r.name})"


def _job_id(engine: Any, name: str) -> int:
    """The id of the job named `name`, or the one-line error."""
    with reading(engine) as session:
        try:
            return find_job(session, name).id
        except UnknownJobError as exc:
            _fail(str(exc))


@app.command()
def cancel(ctx: typer.Context, job: str = typer.Argument(..., help="Job name.")) -> None:
    """Expire a job's open HITs; keep (review, pay, consolidate) what was already answered."""
    settings = _settings(ctx)
    engine = _engine(settings)
    job_id = _job_id(engine, job)
    try:
        result = cancel_job(engine, settings, job_id)
    except ValueError as exc:
        _fail(str(exc))
    console.print(
        f"cancelled {job}: {result['hits_expired']} HITs expired, "
        f"{result['assignments_kept']} answers kept, {result['objects_stopped']} objects stopped. "
        "Run `broker run` to review and consolidate what was answered."
    )


@app.command()
def stop(ctx: typer.Context, job: str = typer.Argument(..., help="Job name.")) -> None:
    """End a streaming job: no new objects; what it has is finished, then the job completes."""
    settings = _settings(ctx)
    engine = _engine(settings)
    job_id = _job_id(engine, job)
    try:
        result = stop_streaming_job(engine, job_id)
    except ValueError as exc:
        _fail(str(exc))
    console.print(
        f"stopping {job}: no new objects; {result['objects_pending']} objects still to publish, "
        f"{result['hits_open']} HITs open. `broker run` finishes them and completes the job."
    )


@app.command()
def export(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="Job name."),
    fmt: str = typer.Option(
        "manifest", "--format", "-f", help="manifest | csv | coco | yolo | voc (the last three: bounding-box jobs)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File (manifest, csv, coco) or directory (yolo, voc)."
    ),
    csv: bool = typer.Option(False, "--csv", help="Same as --format csv."),
) -> None:
    """Copy or print a job's output manifest, or export it as CSV, COCO JSON, YOLO txt or Pascal VOC XML."""
    fmt = "csv" if csv else fmt
    if fmt not in FORMATS:
        _fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt in ("yolo", "voc") and output is None:
        _fail(f"--format {fmt} writes one file per image: give --output DIRECTORY")
    settings = _settings(ctx)
    with reading(_engine(settings)) as session:
        try:
            row = find_job(session, job)
        except UnknownJobError as exc:
            _fail(str(exc))
    if not row.output_manifest:
        _fail(f"job {job} has no output manifest yet (run `broker run`)")
    text = read_text(row.output_manifest, settings)
    spec = job_spec(row)
    try:
        kind = manifest_type(text, spec.label_attribute_name) if fmt == "csv" else None
        if kind == DETECTION_TYPE:
            images, class_map = read_detections(text, spec.label_attribute_name)
            text = boxes_csv(images, class_names(class_map, spec.labels))
        elif kind == SPAN_TYPE:
            text = spans_csv(text, spec.label_attribute_name)
        elif fmt == "csv":
            text = manifest_csv(text, spec)
        elif fmt != "manifest":
            files = export_files(text, spec.label_attribute_name, fmt, spec.labels)
            if fmt == "coco":
                text = files["annotations.json"]
            else:
                output.mkdir(parents=True, exist_ok=True)
                for name, content in files.items():
                    (output / name).write_text(content, encoding="utf-8")
                console.print(f"wrote {len(files)} files to {output}")
                return
    except ExportError as exc:
        _fail(f"{row.output_manifest}: {exc}")
    if output is not None:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


FLAG_HELP = f"Only answers flagged so: {', '.join(REVIEW_FLAGS)}."


@app.command()
def review(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="Job name."),
    worker: list[str] = typer.Option([], "--worker", help="Only this worker's answers (repeatable)."),
    max_agreement: float | None = typer.Option(
        None, "--max-agreement", help="Only workers agreeing with the consolidated labels less than this (0-1)."
    ),
    flag: list[str] = typer.Option([], "--flag", help=FLAG_HELP),
    approve: list[str] = typer.Option([], "--approve", help="Approve this assignment (repeatable)."),
    reject: list[str] = typer.Option([], "--reject", help="Reject this assignment (repeatable; needs --reason)."),
    approve_all: bool = typer.Option(False, "--approve-all", help="Approve every answer the filters list."),
    reject_all: bool = typer.Option(False, "--reject-all", help="Reject every answer the filters list."),
    reason: str = typer.Option("", "--reason", help="Sent to each worker (required to reject)."),
    as_json: bool = typer.Option(False, "--json", help="Print the waiting answers as JSON."),
) -> None:
    """List the answers waiting for review, then approve or reject them one by one or by rule."""
    unknown = sorted(set(flag) - set(REVIEW_FLAGS))
    if unknown:
        _fail(f"--flag {unknown[0]!r} is not one of {', '.join(REVIEW_FLAGS)}")
    actions = sum([bool(approve), bool(reject), approve_all, reject_all])
    if actions > 1:
        _fail("give one of --approve, --reject, --approve-all, --reject-all")
    if (reject or reject_all) and not reason.strip():
        _fail("rejecting needs --reason: the worker is told why")
    settings = _settings(ctx)
    engine = _engine(settings)
    with reading(engine) as session:
        try:
            row = find_job(session, job)
        except UnknownJobError as exc:
            _fail(str(exc))
    rule = ReviewFilter(worker_ids=tuple(worker), max_agreement=max_agreement, flags=tuple(flag))
    if approve or reject:
        chosen = tuple(approve or reject)
        items = review_queue(engine, row, ReviewFilter(assignment_ids=chosen))
        missing = sorted(set(chosen) - {item.assignment_id for item in items})
        if missing:
            _fail(f"{', '.join(missing)}: not waiting for review in job {job} (see `broker review {job}`)")
    else:
        items = review_queue(engine, row, rule)
    if actions == 0:
        _show_review_queue(job, items, as_json)
        return
    try:
        report = review_answers(engine, settings, row, items, approve=bool(approve) or approve_all, reason=reason)
    except WorkerActionError as exc:
        _fail(str(exc))
    except (ClientError, BotoCoreError) as exc:
        _fail(mturk.describe_error(exc))
    for error in report.errors:
        err_console.print(f"[yellow]error:[/] {escape(error)}", highlight=False)
    console.print(
        f"{job}: {report.approved} approved, {report.rejected} rejected"
        + (f", {report.settled} already decided on the marketplace" if report.settled else "")
        + (f"; {len(report.errors)} failed" if report.errors else ""),
        highlight=False,
    )
    if report.errors:
        raise typer.Exit(1)


def _show_review_queue(job: str, items: list[Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps([item.as_dict() for item in items], indent=2))
        return
    if not items:
        console.print(f"{job}: no answers wait for review (with these filters)")
        return
    table = Table(title=f"{job}: {len(items)} answers waiting for review")
    for column in ("assignment", "worker", "object", "answer", "flags", "worker agreement", "auto-approves"):
        table.add_column(column, no_wrap=column in ("assignment", "worker"))
    for item in items:
        agreement = "-" if item.worker_agreement is None else f"{item.worker_agreement:.2f} over {item.worker_judged}"
        flags = ", ".join(item.flags) + (f": {item.reason}" if item.reason else "")
        when = item.auto_approval_time.strftime("%Y-%m-%d %H:%M") if item.auto_approval_time else "-"
        table.add_row(item.assignment_id, item.worker_id, str(item.object_index), item.answer, flags, agreement, when)
    console.print(table)
    console.print(
        f"approve: broker review {job} --approve ASSIGNMENT_ID; "
        f'reject: broker review {job} --reject ASSIGNMENT_ID --reason "..."; '
        f"by rule: the same filters with --approve-all or --reject-all",
        highlight=False,
    )


# ----------------------------------------------------------------------------------------- workers


def _worker_client(ctx: typer.Context, marketplace: str) -> tuple[Any, Any, Any]:
    settings = _settings(ctx)
    client = mturk.client_for(mturk.resolve_target(marketplace, settings), quick=True)
    return settings, _engine(settings, create=True), client


@worker_app.command("bonus")
def worker_bonus(
    ctx: typer.Context,
    worker_id: str,
    assignment_id: str,
    amount: str = typer.Option(..., help='USD, e.g. "0.25".'),
    reason: str = typer.Option(..., help="Shown to the worker."),
) -> None:
    """Pay a bonus for an assignment (once: a repeated command is deduplicated)."""
    settings = _settings(ctx)
    try:
        bonus = send_bonus(_engine(settings), settings, worker_id, assignment_id, usd_to_cents(amount), reason)
    except (MoneyError, WorkerActionError) as exc:
        _fail(str(exc))
    except (ClientError, BotoCoreError) as exc:
        _fail(
            f"bonus not confirmed: {mturk.describe_error(exc)}; run the same command again "
            "(its token keeps MTurk from paying twice)"
        )
    console.print(f"bonus {_usd(bonus.amount_cents)} (+{_usd(bonus.fee_cents)} fee) sent to {worker_id}")


@worker_app.command("block")
def worker_block(
    ctx: typer.Context,
    worker_id: str,
    reason: str = typer.Option(..., help="Required by MTurk."),
    marketplace: str = typer.Option("local", help="local, sandbox, production or a URL."),
) -> None:
    """Block a worker from all your HITs."""
    _, engine, client = _worker_client(ctx, marketplace)
    try:
        block_worker(engine, client, worker_id, reason)
    except WorkerActionError as exc:
        _fail(str(exc))
    except (ClientError, BotoCoreError) as exc:
        _fail(mturk.describe_error(exc))
    console.print(f"blocked {worker_id}")


@worker_app.command("unblock")
def worker_unblock(
    ctx: typer.Context,
    worker_id: str,
    reason: str = typer.Option("", help="Optional."),
    marketplace: str = typer.Option("local", help="local, sandbox, production or a URL."),
) -> None:
    """Lift a block."""
    _, engine, client = _worker_client(ctx, marketplace)
    try:
        unblock_worker(engine, client, worker_id, reason)
    except (ClientError, BotoCoreError) as exc:
        _fail(mturk.describe_error(exc))
    console.print(f"unblocked {worker_id}")


@worker_app.command("message")
def worker_message(
    ctx: typer.Context,
    worker_ids: list[str] = typer.Argument(..., help="WorkerIds."),
    subject: str = typer.Option(...),
    body: str = typer.Option(...),
    marketplace: str = typer.Option("local", help="local, sandbox, production or a URL."),
) -> None:
    """Send a message (NotifyWorkers, 100 workers per call)."""
    _, _, client = _worker_client(ctx, marketplace)
    try:
        failures = message_workers(client, list(worker_ids), subject, body)
    except (ClientError, BotoCoreError) as exc:
        _fail(mturk.describe_error(exc))
    for failure in failures:
        err_console.print(f"[yellow]{failure.get('WorkerId')}: {failure.get('NotifyWorkersFailureMessage')}[/]")
    console.print(f"messaged {len(worker_ids) - len(failures)} of {len(worker_ids)} workers")


# ----------------------------------------------------------------------------------------- teams

MARKETPLACE_OPTION = typer.Option("local", "--marketplace", help="local, sandbox, production or a URL.")


def _team_target(ctx: typer.Context, marketplace: str) -> tuple[Any, Any]:
    target = mturk.resolve_target(marketplace, _settings(ctx))
    return target, mturk.client_for(target, quick=True)


def _team_failure(exc: Exception) -> None:
    if isinstance(exc, ClientError):
        _fail(f"{mturk.error_code(exc)}: {mturk.error_message(exc)}")
    _fail(str(exc))


@team_app.command("create")
def team_create(
    ctx: typer.Context, name: str = typer.Argument(..., help="Team name."), marketplace: str = MARKETPLACE_OPTION
) -> None:
    """Create a private work team (its qualification type; on the local marketplace, ready for invites)."""
    target, client = _team_target(ctx, marketplace)
    try:
        team = create_team(client, target, name)
    except (TeamError, WorkforceError, ClientError) as exc:
        _team_failure(exc)
    console.print(f"team [bold]{team.name}[/]: qualification type {team.qualification_type_id}, {team.members} members")


@team_app.command("invite")
def team_invite(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Team name."),
    uses: int = typer.Option(1, "--uses", min=1, max=10_000, help="How many workers may join with this invite."),
    expires: str = typer.Option("7d", "--expires", help="Lifetime, e.g. 30m, 12h, 7d (at most 365d)."),
    marketplace: str = MARKETPLACE_OPTION,
) -> None:
    """Print a new invite's link and code: a worker signs up with it on the worker site and joins the team."""
    try:
        lifetime = parse_duration(expires)
    except ValueError as exc:
        _fail(f"--expires: {exc}")
    target, _ = _team_target(ctx, marketplace)
    try:
        made = invite(target, name, uses, lifetime)
    except (TeamError, WorkforceError) as exc:
        _team_failure(exc)
    console.print(f"link: {made.url}", highlight=False, soft_wrap=True)
    console.print(f"code: {made.code}", highlight=False)
    console.print(f"team {made.team}, {made.max_uses} use(s), expires {made.expires}", highlight=False)


@team_app.command("list")
def team_list(ctx: typer.Context, marketplace: str = MARKETPLACE_OPTION) -> None:
    """Every team: members, open invites, qualification type."""
    target, client = _team_target(ctx, marketplace)
    try:
        teams = list_teams(client, target)
    except (TeamError, WorkforceError, ClientError) as exc:
        _team_failure(exc)
    table = Table("team", "members", "open invites", "qualification type")
    for team in teams:
        invites = "-" if team.open_invites is None else str(team.open_invites)
        table.add_row(team.name, str(team.members), invites, team.qualification_type_id)
    console.print(table if teams else "no teams yet (broker team create NAME)")


@team_app.command("members")
def team_members_command(
    ctx: typer.Context, name: str = typer.Argument(..., help="Team name."), marketplace: str = MARKETPLACE_OPTION
) -> None:
    """The WorkerIds of a team's members, one a line."""
    _, client = _team_target(ctx, marketplace)
    try:
        members = team_members(client, name)
    except (TeamError, ClientError) as exc:
        _team_failure(exc)
    for worker_id in members:
        console.print(worker_id, highlight=False)


@team_app.command("add")
def team_add(ctx: typer.Context, name: str, worker_id: str, marketplace: str = MARKETPLACE_OPTION) -> None:
    """Add a worker by WorkerId (on MTurk, the way to fill a team)."""
    _, client = _team_target(ctx, marketplace)
    try:
        add_member(client, name, worker_id)
    except (TeamError, ClientError) as exc:
        _team_failure(exc)
    console.print(f"{worker_id} joined team {name}", highlight=False)


@team_app.command("remove")
def team_remove(ctx: typer.Context, name: str, worker_id: str, marketplace: str = MARKETPLACE_OPTION) -> None:
    """Remove a member: the team's HITs disappear from their list."""
    _, client = _team_target(ctx, marketplace)
    try:
        remove_member(client, name, worker_id)
    except (TeamError, ClientError) as exc:
        _team_failure(exc)
    console.print(f"{worker_id} left team {name}", highlight=False)


# ----------------------------------------------------------------------------------------- demo


@app.command()
def demo(
    output: Path = typer.Option(Path("demo-output"), "--output", help="Where the job's files go."),
    seed: int = typer.Option(0, "--seed"),
    task: str = typer.Option(
        "image-classification",
        "--task",
        help="image-classification (the digits); bounding-box, bounding-box-adjustment or "
        "semantic-segmentation (shapes in generated scenes); named-entity "
        "(generated sentences); verification (a model's digit labels).",
    ),
    workers_per_object: int | None = typer.Option(
        None,
        "--workers-per-object",
        min=1,
        max=9,
        help="Answers per object (default 3; bounding-box 5, as Ground Truth's console suggests).",
    ),
    objects: int | None = typer.Option(
        None, "--objects", min=1, help="Label only the first N digits (or N generated objects)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    auto_label: bool = typer.Option(
        False, "--auto-label", help="Automated labeling: a model labels the digits it is sure of."
    ),
    threaded_crowd: bool = typer.Option(
        False,
        "--threaded-crowd",
        help="Real-time crowd threads on the worker site over HTTP (a load test; runs differ). "
        "Default: the simulated crowd on a simulated clock, the same run for the same seed.",
    ),
    validation_workers: int | None = typer.Option(
        None,
        "--validation-workers",
        min=1,
        max=9,
        help="--auto-label: answers per validation object (default: --workers-per-object).",
    ),
    worker_history: str | None = typer.Option(
        None,
        "--worker-history",
        help="Give the simulated workers work histories from this distribution, as `broker marketplace serve "
        '--worker-history`, e.g. "approved=1000:1.5,approval=95-100" (approved HITs log-normal: median, log-sd; '
        "approval %% uniform). Off by default, as on MTurk.",
    ),
) -> None:
    """Label scikit-learn's 1,797 digits (or generated scenes/sentences) on the embedded marketplace with a
    simulated crowd."""
    if task not in DEMO_TASKS:
        raise typer.BadParameter(
            f"{task!r} is not a demo task: choose one of {', '.join(DEMO_TASKS)}", param_hint="--task"
        )
    if auto_label and task != "image-classification":
        raise typer.BadParameter(
            "automated labeling runs on the digits (image-classification) only", param_hint="--auto-label"
        )
    if worker_history is not None:
        try:
            parse_history(worker_history)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--worker-history") from None
    summary = run_demo(
        DemoOptions(
            output=output,
            seed=seed,
            workers_per_object=workers_per_object,
            objects=objects,
            task=task,
            show_progress=not as_json,
            auto_label=auto_label,
            auto_label_settings={"validation_workers_per_object": validation_workers} if validation_workers else {},
            threaded_crowd=threaded_crowd,
            worker_history=worker_history,
        )
    )
    if as_json:
        print(json.dumps(summary.as_dict()))
    else:
        summary.print(console)


# ----------------------------------------------------------------------------------------- estimate


def _fitted_completion(ctx: typer.Context, path: Path) -> FittedCompletion:
    """--timing-from: an experiment report's JSON, or an experiment spec whose arms the broker DB holds."""
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            experiment = load_experiment_spec(path)
        except SpecError as exc:
            _fail(str(exc))
        with reading(_engine(_settings(ctx))) as session:
            try:  # the arms' analysis, with its completion model
                data = experiment_results(session, experiment).as_json()
            except ValueError as exc:
                _fail(f"--timing-from {path}: {exc}")
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"--timing-from {path}: cannot read: {exc}")
        except json.JSONDecodeError as exc:
            _fail(f"--timing-from {path}: not JSON (line {exc.lineno}): {exc.msg}")
    try:
        return fitted_completion_from_json(data, f"--timing-from {path}")
    except ValueError as exc:
        _fail(str(exc))


@app.command("estimate")
def estimate_command(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="Job spec YAML."),
    work_time: str | None = typer.Option(None, "--work-time", help='Expected time per assignment, e.g. "45s" or "2m".'),
    objects: int | None = typer.Option(
        None, "--objects", min=0, help="Object count (default: count the input manifest)."
    ),
    timing_from: Path | None = typer.Option(
        None,
        "--timing-from",
        help="Predict the time to finish with a pricing experiment's fitted completion model: its report JSON "
        "(`broker experiment pricing SPEC --report --json > exp.json`) or its experiment spec YAML.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cost before posting: rewards, MTurk fees (10+ assignments and Masters surcharges), total, hourly wage;
    with --timing-from, the time to finish."""
    settings = _settings(ctx)
    try:
        job = load_job_spec(spec, settings=settings)
        count = objects if objects is not None else count_manifest_objects(job, settings)
        seconds = float(parse_duration(work_time)) if work_time is not None else None
    except (SpecError, ManifestError) as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(f"--work-time: {exc}")
    if seconds is not None and seconds <= 0:
        _fail("--work-time: must be positive")
    estimate = estimate_spec(job, count, work_seconds=seconds)
    completion = None
    if timing_from is not None:
        completion = estimate_completion(
            _fitted_completion(ctx, timing_from),
            str(timing_from),
            reward_cents=job.reward_cents,
            objects=estimate.objects + estimate.gold_objects,
            workers_per_object=job.workers_per_object,
            lifetime_seconds=float(job.lifetime_seconds),
            work_seconds=seconds,
        )
    if as_json:
        print(json.dumps({**estimate.as_dict(), "completion": completion.as_dict() if completion else None}))
        if not estimate.within_budget:
            raise typer.Exit(2)
        return
    table = Table(title=f"estimate for {job.job_name}", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    for key, value in estimate_rows(estimate) + (completion_rows(completion) if completion else []):
        table.add_row(key, value, style="bold" if key == "total" else None)
    console.print(table)
    if seconds is None:
        console.print("give --work-time (e.g. 30s) to see the hourly wage it implies")
    if not estimate.within_budget:
        raise typer.Exit(2)


# ----------------------------------------------------------------------------------------- console


@app.command("console")
def console_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)."),
    port: int = typer.Option(8770, "--port", min=0, max=65535, help="Port (0: any free port)."),
    experiment: list[Path] = typer.Option(
        [], "--experiment", help="A pricing experiment spec whose report the console shows (repeatable)."
    ),
) -> None:
    """Serve the requester console: jobs live, objects with their HIT and answers, review, workers, experiments."""
    settings = _settings(ctx)
    engine = _engine(settings)
    missing = [str(path) for path in experiment if not path.is_file()]
    if missing:
        _fail(f"--experiment {missing[0]}: no such file")
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            f"[yellow]warning:[/] listening on {escape(host)}: whoever reaches it with the token can pay and block",
            highlight=False,
        )

    def ready(url: str) -> None:
        print(f"console at {url}", flush=True)
        print(f"broker DB: {settings.db_url} (Ctrl-C stops the console)", flush=True)

    try:
        serve(ConsoleConfig(engine=engine, settings=settings, experiments=list(experiment)), host, port, ready)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


# ----------------------------------------------------------------------------------------- experiments


@experiment_app.command("pricing")
def experiment_pricing(
    ctx: typer.Context,
    spec: Path = typer.Argument(
        ..., help="Experiment spec YAML (every field: config/examples/pricing-experiment.yaml)."
    ),
    report: bool = typer.Option(False, "--report", help="Report on arms already run instead of posting them."),
    simulate: bool = typer.Option(
        False, "--simulate", help="Run the whole experiment on the embedded marketplace with the simulated crowd."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="--simulate: the crowd's and the split's seed (default: the spec's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the analysis as one JSON object."),
    workdir: Path | None = typer.Option(
        None,
        "--workdir",
        help="Where arm manifests/specs go (default: <spec folder>/<experiment>-arms; --simulate: a temporary folder).",
    ),
    csv: Path | None = typer.Option(None, "--csv", help="Write one row per arm (intervals as _low/_high columns)."),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report with plots."),
) -> None:
    """Post the arms of a pricing experiment (then `broker run`), --report on them, or --simulate the whole of it."""
    try:
        experiment = load_experiment_spec(spec)
    except SpecError as exc:
        _fail(str(exc))
    folder = workdir or spec.resolve().parent / f"{experiment.experiment}-arms"
    if simulate:
        # a simulation's files are scratch unless --workdir keeps them
        with tempfile.TemporaryDirectory(prefix="broker-simulated-") as scratch:
            try:
                analysis = simulate_pricing_experiment(experiment, workdir or Path(scratch), seed=seed)
            except (SpecError, ManifestError, SubmitError, ValueError) as exc:
                _fail(str(exc))
    elif report:
        with reading(_engine(_settings(ctx))) as session:
            try:
                analysis = experiment_results(session, experiment)
            except ValueError as exc:
                _fail(str(exc))
    else:
        if as_json or csv or html:
            _fail("--json, --csv and --html report on an experiment: add --report (arms already run) or --simulate")
        settings = _settings(ctx)
        try:
            ids = submit_experiment(experiment, folder, _engine(settings, create=True), settings)
        except (SpecError, ManifestError, SubmitError, ValueError) as exc:
            _fail(str(exc))
        if experiment.allocation == "thompson":
            console.print(
                f"submitted the next round of {experiment.experiment}: {len(ids)} job(s) (specs in {folder}); "
                f"run `broker run`, and when the round is done `broker experiment pricing {spec}` again to post "
                f"the next round (allocated on the results so far); `broker experiment pricing {spec} --report` "
                "reports on the rounds done",
                soft_wrap=True,
            )
            return
        console.print(
            f"submitted {len(ids)} arm(s) of {experiment.experiment} (arm specs in {folder}); "
            f"run `broker run`, then `broker experiment pricing {spec} --report`",
            soft_wrap=True,
        )
        return
    out = err_console if as_json else console
    if as_json:
        print(json.dumps(analysis.as_json(), indent=2))
    else:
        console.print(results_table(analysis))
    if csv is not None:
        write_results_csv(analysis, csv)
        out.print(f"wrote {csv}")
    if html is not None:
        html.write_text(results_html(analysis), encoding="utf-8")
        out.print(f"wrote {html}")


# ------------------------------------------------------------------------------------------- db

db_app = typer.Typer(no_args_is_help=True, help="The broker DB's schema (Alembic migrations).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the broker DB (settings' db_url) to the newest schema; a no-op when it is there."""
    settings = _settings(ctx)
    try:
        before, after = migrate.upgrade(settings.db_url)
    except migrate.DatabaseUnreachableError as exc:
        _fail(str(exc))
    if before == after:
        console.print(f"{settings.db_url}: at revision {after}, nothing to do")
    else:
        console.print(f"{settings.db_url}: {before or 'unversioned'} -> {after}")


@db_app.command("revision")
def db_revision(ctx: typer.Context) -> None:
    """Print the broker DB's schema revision and the newest one this release knows."""
    settings = _settings(ctx)
    if not database_exists(settings.db_url):
        _fail(f"no broker DB at {sqlite_file(settings.db_url)} (newest revision: {migrate.head_revision()})")
    try:
        current = migrate.current_revision(settings.db_url)
    except migrate.DatabaseUnreachableError as exc:
        _fail(str(exc))
    console.print(f"{settings.db_url}: revision {current or 'none'} (newest: {migrate.head_revision()})")


def main() -> None:
    try:
        app()
    except migrate.OutdatedSchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
