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
from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from broker import mturk
from broker.actions.bonuses import WorkerActionError
from broker.autolabel.report import summary_rows
from broker.commands import block_worker, cancel_job, message_workers, send_bonus, unblock_worker
from broker.daemon import install_signal_handlers, run_cycle, run_until_done
from broker.demo import DEMO_TASKS, DemoOptions, run_demo
from broker.domain.money import MoneyError, usd_to_cents
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
from broker.manifest import ManifestError
from broker.marketplace.cli import app as marketplace_app
from broker.reports.cli import estimate_command, report_app
from broker.reports.status import JobStatusReport, format_eta, job_status
from broker.settings import SettingsError, load_settings
from broker.simulation import simulate_pricing_experiment
from broker.spec import SpecError, SubmitError
from broker.stages.submit import submit_job
from broker.storage import read_text
from broker.store import get_engine, migrate, reading
from broker.store.jobs import UnknownJobError, find_job, job_spec
from broker.store.views import all_jobs, jobs_not_completed
from broker.validate import preview_command, validate_command

app = typer.Typer(no_args_is_help=True, help="crowd-broker: Ground Truth-style labeling on Mechanical Turk.")
app.add_typer(marketplace_app, name="marketplace", help="The embedded MTurk-compatible marketplace.")
worker_app = typer.Typer(no_args_is_help=True, help="Pay, block, unblock and message workers.")
app.add_typer(worker_app, name="worker")
app.command("validate")(validate_command)
app.command("preview")(preview_command)
app.add_typer(report_app, name="report", help="Worker and job statistics: terminal table, CSV, HTML.")
app.command("estimate")(estimate_command)
experiment_app = typer.Typer(no_args_is_help=True, help="Pricing experiments: arms that differ in reward.")
app.add_typer(experiment_app, name="experiment")

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


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
) -> None:
    ctx.obj = {"settings_path": settings}


def _settings(ctx: typer.Context) -> Any:
    path = (ctx.obj or {}).get("settings_path") if ctx is not None else None
    try:
        return load_settings(path)
    except SettingsError as exc:
        _fail(str(exc))


def _engine(settings: Any) -> Any:
    return get_engine(settings.db_url)


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
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
    """Validate a job (spec, manifest, template) and queue it for `broker run`."""
    settings = _settings(ctx)
    try:
        submitted = submit_job(spec, _engine(settings), settings, skip_invalid_lines=skip_invalid_lines)
    except (SpecError, ManifestError, SubmitError) as exc:
        _fail(str(exc))
    except Exception as exc:  # template errors and the like: their message names file and line
        if type(exc).__name__ in ("PublishError", "TemplateError", "QuestionTooLarge", "StorageError"):
            _fail(str(exc))
        raise
    console.print(
        f"submitted job [bold]{submitted.name}[/]: {submitted.n_objects} objects"
        + (f" ({submitted.n_rejected_lines} invalid lines left out)" if submitted.n_rejected_lines else "")
    )


@app.command()
def run(ctx: typer.Context, once: bool = typer.Option(False, "--once", help="Run every tick once and exit.")) -> None:
    """Run the daemon: publish, collect, review, consolidate, finalize until every job is done."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(ctx)
    engine = _engine(settings)
    if once:
        cycle = run_cycle(engine, settings)
        for error in cycle.errors:
            err_console.print(f"[yellow]{error}[/]")
        return
    stop = threading.Event()
    install_signal_handlers(stop)
    if not console.is_terminal:
        done = run_until_done(engine, settings, stop=stop)
    else:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            done = run_until_done(
                engine, settings, stop=stop, on_tick=lambda name, result: _show_progress(progress, engine, name)
            )
    console.print("all jobs done" if done else "stopped")


def _show_progress(progress: Any, engine: Any, tick: str) -> None:
    """One bar per job: objects answered or failed, out of all (refreshed after collect/consolidate)."""
    if tick not in ("collect", "consolidate", "finalize"):
        return
    with reading(engine) as session:
        reports = [job_status(session, job) for job in jobs_not_completed(session)]
    bars = getattr(progress, "_broker_bars", {})
    for report in reports:
        if report.name not in bars:
            bars[report.name] = progress.add_task(report.name, total=report.objects)
        progress.update(
            bars[report.name],
            completed=report.answered + report.failed + report.carried,
            description=f"{report.name} (spent ${report.spent_cents / 100:,.2f})",
        )
    progress._broker_bars = bars


@app.command()
def collect(
    ctx: typer.Context,
    once: bool = typer.Option(True, "--once", help="Collect once and exit (`broker run` collects continuously)."),
) -> None:
    """Collect submitted assignments now, review and consolidate them; publishes nothing."""
    settings = _settings(ctx)
    cycle = run_cycle(_engine(settings), settings, ticks=("collect", "review", "consolidate", "output", "finalize"))
    report = cycle.reports.get("collect")
    if report is not None and not isinstance(report, Exception):
        console.print(
            f"collected {report.assignments_stored} assignments from {report.hits_collected} HITs"
            f" ({report.hits_extended} extended)"
        )
    for error in cycle.errors:
        err_console.print(f"[yellow]{error}[/]")


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
        reports = [job_status(session, j) for j in jobs]
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
    for column in ("job", "status", "answered", "labeled", "failed", "spent", "committed", "ETA"):
        table.add_column(column, justify="left" if column in ("job", "status") else "right", no_wrap=True)
    for r in reports:
        table.add_row(
            r.name,
            r.status,
            f"{r.answered}/{r.objects}",
            str(r.consolidated),
            str(r.failed),
            _usd(r.spent_cents),
            _usd(r.committed_cents),
            format_eta(r.eta_seconds),
        )
    console.print(table)


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
    ]
    if r.auto_label:
        rows += summary_rows(r.auto_label)
    for key, value in rows:
        table.add_row(key, value)
    table.add_row("output manifest", Text(r.output_manifest or "-", overflow="fold"))
    return table


@app.command()
def cancel(ctx: typer.Context, job: str = typer.Argument(..., help="Job name.")) -> None:
    """Expire a job's open HITs; keep (review, pay, consolidate) what was already answered."""
    settings = _settings(ctx)
    engine = _engine(settings)
    with reading(engine) as session:
        try:
            job_id = find_job(session, job).id
        except UnknownJobError as exc:
            _fail(str(exc))
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


# ----------------------------------------------------------------------------------------- workers


def _worker_client(ctx: typer.Context, marketplace: str) -> tuple[Any, Any, Any]:
    settings = _settings(ctx)
    return settings, _engine(settings), mturk.client_for(mturk.resolve_target(marketplace, settings))


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
    except (MoneyError, WorkerActionError, ClientError) as exc:
        _fail(str(exc))
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
    except (WorkerActionError, ClientError) as exc:
        _fail(str(exc))
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
    except ClientError as exc:
        _fail(str(exc))
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
    except ClientError as exc:
        _fail(str(exc))
    for failure in failures:
        err_console.print(f"[yellow]{failure.get('WorkerId')}: {failure.get('NotifyWorkersFailureMessage')}[/]")
    console.print(f"messaged {len(worker_ids) - len(failures)} of {len(worker_ids)} workers")


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
    validation_workers: int | None = typer.Option(
        None,
        "--validation-workers",
        min=1,
        max=9,
        help="--auto-label: answers per validation object (default: --workers-per-object).",
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
        )
    )
    if as_json:
        print(json.dumps(summary.as_dict()))
    else:
        summary.print(console)


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
            ids = submit_experiment(experiment, folder, _engine(settings), settings)
        except (SpecError, ManifestError, SubmitError, ValueError) as exc:
            _fail(str(exc))
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
    try:
        current = migrate.current_revision(settings.db_url)
    except migrate.DatabaseUnreachableError as exc:
        _fail(str(exc))
    console.print(f"{settings.db_url}: revision {current or 'none'} (newest: {migrate.head_revision()})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
