"""`broker demo`: a real job on the embedded marketplace with a simulated crowd, in one process.

scikit-learn's 1,797 handwritten digits are written as PNGs (upscaled, dark on white), listed in
a Ground Truth input manifest and labeled as image classification with 10 classes (or another
task's generated data: the task type's demo recipe, broker.tasks.base.DemoRecipe). The embedded
marketplace serves them; a crowd of good, sloppy and spamming bots works the HITs over HTTP
through the worker site; the broker's ticks (the same ones `broker run` schedules) publish,
collect, review, consolidate and finalize. The marketplace clock runs `time_scale` x faster than
the wall clock, so simulated minutes of work pass in seconds.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from broker import mturk
from broker.consolidation import majority_labels
from broker.daemon import jobs_remaining, run_cycle
from broker.demo.tasks import task_summary
from broker.domain.lifecycle import ObjectStatus
from broker.domain.money import cents_to_usd
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.crowd import run_crowd
from broker.marketplace.server import start_in_thread
from broker.reports.status import job_status
from broker.settings import load_settings
from broker.simulation import fresh_sqlite_url, run_simulation, simulated_marketplace
from broker.stages.submit import submit_job
from broker.store import dispose_engine, get_engine, reading, sqlite_file
from broker.store.answers import answers_for_consolidation
from broker.store.autolabel import autolabel_summary
from broker.store.jobs import job_money
from broker.store.views import assignment_count, job_by_id, object_counts_by_status, object_results
from broker.tasks.base import TaskType
from broker.tasks.demo_digits import DIGITS_SPEC, LABELS, write_digits
from broker.tasks.registry import TASK_TYPES

TIME_SCALE = 1000.0
CROWD_SIZE = 40
AUTO_LABEL_FIELDS = ("machine_labeled", "machine_label_accuracy", "cost_saved_fraction")
# The benchmark's digits settings: label spreading on 8x8 pixels (the original digits), a 7% validation
# set and batches of 80, 3 answers everywhere; the first batch's training objects, judged out-of-fold,
# add their evidence to the validation set's. (With 5 answers per validation object,
# one run machine-labeled nothing: a few confident crowd mistakes among the validation labels.)
AUTO_LABEL_SPEC = {"model": "label-spreading", "validation_fraction": 0.07, "human_batch_size": 80, "image_size": 8}


# `broker demo --task` name -> the task type whose demo recipe it runs (the digits are the default)
DEMO_RECIPES: dict[str, TaskType] = {task.demo.name: task for task in TASK_TYPES.values() if task.demo}
DEMO_TASKS = ("image-classification", *DEMO_RECIPES)
TASK_FIELDS = (
    "mean_iou",
    "single_worker_mean_iou",
    "initial_mean_iou",
    "mask_iou",
    "single_worker_mask_iou",
    "span_f1",
    "single_worker_span_f1",
    "verification_accuracy",
    "single_worker_verification_accuracy",
    "model_label_accuracy",
)


@dataclass
class DemoOptions:
    output: Path = Path("demo-output")
    seed: int = 0
    workers_per_object: int | None = None  # None: 3 for digits, the task's default otherwise (its DemoRecipe)
    objects: int | None = None
    task: str = "image-classification"  # or another of DEMO_TASKS (a task type's DemoRecipe)
    show_progress: bool = True
    crowd_size: int = CROWD_SIZE
    time_scale: float = TIME_SCALE
    crowd_concurrency: int = 8
    threaded_crowd: bool = False  # real-time crowd threads on the worker site (a load test), not the simulation
    auto_label: bool = False  # a model labels what it is sure of (broker.stages.autolabel)
    auto_label_settings: dict[str, Any] = field(default_factory=dict)  # overrides of AUTO_LABEL_SPEC
    # the crowd's work histories, as `broker marketplace serve --worker-history` (broker.marketplace.history)
    worker_history: str | None = None


@dataclass
class DemoSummary:
    accuracy: float | None  # classification only
    majority_vote_accuracy: float | None
    objects: int
    assignments: int
    cost_cents: int
    wall_seconds: float
    output_manifest: str
    failed_objects: int = 0
    crowd: dict[str, int] = field(default_factory=dict)
    # --worker-history: the workers' histories from other requesters (workers, approved HITs, approval %)
    worker_histories: dict[str, Any] | None = None
    machine_labeled: int | None = None  # --auto-label only
    machine_label_accuracy: float | None = None  # machine labels == truth, over machine-labeled objects
    cost_saved_fraction: float | None = None  # crowd cost saved against labeling every object by the crowd
    task: str = "image-classification"
    mean_iou: float | None = None  # bounding-box: consolidated boxes against the truth
    single_worker_mean_iou: float | None = None  # ... and one worker's answer, on average
    initial_mean_iou: float | None = None  # bounding-box-adjustment: the boxes workers started from
    mask_iou: float | None = None  # semantic-segmentation: consolidated masks' mean IoU
    single_worker_mask_iou: float | None = None
    span_f1: float | None = None  # named-entity: exact-span F1 of the consolidated entities
    single_worker_span_f1: float | None = None
    verification_accuracy: float | None = None  # verification: consolidated verdicts right (label fits or not)
    single_worker_verification_accuracy: float | None = None
    model_label_accuracy: float | None = None  # the share of the model's labels that were right
    job_name: str = ""
    db: str = ""  # the demo's broker DB (SQLite file): `broker --db DB status JOB` finds its job

    def next_commands(self) -> list[str]:
        """The commands that look at the demo's job afterwards, with the DB spelled out."""
        path = Path(self.db)
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            pass
        where = f"broker --db {shlex.quote(str(path))}"
        return [
            f"{where} status {self.job_name}",
            f"{where} report workers {self.job_name}",
            f"{where} report job {self.job_name}",
            f"{where} export {self.job_name} --format csv",
        ]

    def as_dict(self) -> dict[str, Any]:
        """The --json summary: only the figures this run has (a box demo has no accuracy)."""
        data = asdict(self)
        data.pop("crowd")
        optional = ("accuracy", "majority_vote_accuracy", "worker_histories") + AUTO_LABEL_FIELDS + TASK_FIELDS
        for key in optional:
            if data[key] is None:
                data.pop(key)
        return data

    def print(self, console: Any) -> None:
        what = "sklearn digits" if self.task == "image-classification" else f"{self.task} on generated data"
        table = Table(title=f"broker demo: {what} on the embedded marketplace", show_header=False)
        table.add_row("objects", f"{self.objects} ({self.failed_objects} failed)")
        table.add_row("assignments", str(self.assignments))
        figures = [
            ("accuracy (EM consolidation)", self.accuracy),
            ("accuracy (majority vote)", self.majority_vote_accuracy),
            ("mean IoU (consolidated boxes)", self.mean_iou),
            ("mean IoU (one worker)", self.single_worker_mean_iou),
            ("mean IoU (boxes before adjustment)", self.initial_mean_iou),
            ("mask IoU (consolidated)", self.mask_iou),
            ("mask IoU (one worker)", self.single_worker_mask_iou),
            ("span F1 (consolidated)", self.span_f1),
            ("span F1 (one worker)", self.single_worker_span_f1),
            ("verdicts right (consolidated)", self.verification_accuracy),
            ("verdicts right (one worker)", self.single_worker_verification_accuracy),
            ("model labels right", self.model_label_accuracy),
        ]
        for name, value in figures:
            if value is not None:
                table.add_row(name, f"{value:.2%}")
        table.add_row("cost incl. MTurk fees", f"${cents_to_usd(self.cost_cents)}")
        if self.machine_labeled is not None:
            accuracy = "-" if self.machine_label_accuracy is None else f"{self.machine_label_accuracy:.2%}"
            table.add_row("machine-labeled", f"{self.machine_labeled} (accuracy {accuracy})")
            table.add_row("cost saved vs all-human", f"{self.cost_saved_fraction or 0.0:.1%}")
        table.add_row("wall time", f"{self.wall_seconds:.1f} s")
        if self.crowd:
            table.add_row("crowd", ", ".join(f"{k}: {v}" for k, v in sorted(self.crowd.items())))
        if self.worker_histories:
            h = self.worker_histories
            table.add_row(
                "work histories",
                f"{h['workers']} workers: {h['approved'][0]}-{h['approved'][1]} approved HITs "
                f"(median {h['approved_median']}), approval {h['approval_percent'][0]}-{h['approval_percent'][1]}%",
            )
        console.print(table)
        # On its own line, unwrapped: the path is the one thing a reader copies whole.
        console.print(f"output manifest: {self.output_manifest}", soft_wrap=True, highlight=False)
        if self.db:
            console.print("look at the job again (the demo's broker DB):", highlight=False)
            for command in self.next_commands():
                console.print(f"  {command}", soft_wrap=True, highlight=False, markup=False)


def write_spec(
    folder: Path,
    manifest: Path,
    workers_per_object: int,
    auto_label: bool = False,
    auto_label_settings: dict[str, Any] | None = None,
    task_spec: dict[str, Any] | None = None,
) -> Path:
    """The demo job's YAML: the task's own part (digits by default) plus the demo's run settings."""
    spec = {
        **(task_spec or DIGITS_SPEC),
        "input_manifest": str(manifest),
        "output": str(folder),
        "workers_per_object": workers_per_object,
        # long in simulated time: the marketplace clock runs TIME_SCALE x faster than the wall clock
        "assignment_duration_seconds": 3_600,
        "lifetime_seconds": 30 * 86_400,
        "auto_approval_delay_seconds": 30 * 86_400,
        "max_concurrent_hits": 1000,
    }
    if auto_label:
        spec["auto_label"] = {**AUTO_LABEL_SPEC, **(auto_label_settings or {})}
    path = folder / f"{spec['job_name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def run_demo(options: DemoOptions) -> DemoSummary:
    """Run the whole demo and return its summary (nothing printed unless show_progress)."""
    if options.task not in DEMO_TASKS:
        raise ValueError(f"demo task {options.task!r}: choose one of {', '.join(DEMO_TASKS)}")
    if options.auto_label and options.task != "image-classification":
        raise ValueError("--auto-label runs the digits demo (image-classification) only")
    started = time.monotonic()
    folder = options.output.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if options.task == "image-classification":
        manifest, truth = write_digits(folder, options.objects)
        spec_path = write_spec(
            folder, manifest, options.workers_per_object or 3, options.auto_label, options.auto_label_settings
        )
    else:
        recipe = DEMO_RECIPES[options.task].demo
        data = recipe.write(folder, options.objects or recipe.objects, options.seed)
        truth = data.truth
        spec_path = write_spec(
            folder, data.manifest, options.workers_per_object or recipe.workers_per_object, task_spec=data.spec
        )
    db_url = fresh_sqlite_url(folder, "demo-broker.db")
    runner = _run_threaded if options.threaded_crowd else _run_simulated
    job_id, n_objects, crowd_models, histories = runner(options, folder, spec_path, db_url, truth)
    engine = get_engine(db_url)
    wall = time.monotonic() - started
    if options.task == "image-classification":
        summary = _summary(engine, job_id, truth, wall, options.auto_label)
    else:
        summary = _task_summary(engine, job_id, DEMO_RECIPES[options.task], truth, wall)
    summary.crowd = {kind: sum(1 for k in crowd_models.values() if k == kind) for kind in set(crowd_models.values())}
    summary.worker_histories = histories if options.worker_history else None
    dispose_engine(db_url)
    return summary


def work_histories(marketplace: Any) -> dict[str, Any] | None:
    """The marketplace's workers' histories from other requesters, summarised (None: nobody has one)."""
    rows = [(w.historic_approved, w.historic_submitted) for w in marketplace.workers.values() if w.historic_submitted]
    if not rows:
        return None
    approved = np.array([a for a, _ in rows])
    rate = np.array([100.0 * a / s for a, s in rows])
    return {
        "workers": len(rows),
        "approved": [int(approved.min()), int(approved.max())],
        "approved_median": int(np.median(approved)),
        "approval_percent": [round(float(rate.min()), 1), round(float(rate.max()), 1)],
    }


RunResult = tuple[int, int, dict[str, str], dict[str, Any] | None]


def _run_simulated(
    options: DemoOptions, folder: Path, spec_path: Path, db_url: str, truth: dict[str, Any]
) -> RunResult:
    """The job on the simulated clock: crowd events and the daemon's ticks take turns (broker.simulation)."""
    with simulated_marketplace(
        db_url=db_url,
        file_roots=[str(folder)],
        seed=options.seed,
        crowd_size=options.crowd_size,
        truth=truth,
        worker_history=options.worker_history,
    ) as run:
        engine = get_engine(db_url)
        submitted = submit_job(spec_path, engine, run.settings)
        with _progress_bars(engine, submitted.job_id, submitted.n_objects, options.show_progress) as update:
            run_simulation(engine, run, on_round=update)
        histories = work_histories(run.market.marketplace)
        return submitted.job_id, submitted.n_objects, dict(run.crowd.stats.worker_models), histories


def _run_threaded(options: DemoOptions, folder: Path, spec_path: Path, db_url: str, truth: dict[str, Any]) -> RunResult:
    """The job in real time: crowd threads on the worker site over HTTP while the ticks loop (a load test)."""
    config = MarketplaceConfig(
        db_path=":memory:",
        file_roots=[str(folder)],
        time_scale=options.time_scale,
        worker_history=options.worker_history,
    )
    with start_in_thread(config) as market:
        settings = load_settings(db_url=db_url, local_endpoint_url=market.endpoint_url)
        mturk.forget_clients()
        engine = get_engine(db_url)
        submitted = submit_job(spec_path, engine, settings)
        run_cycle(engine, settings, ticks=("autolabel", "publish") if options.auto_label else ("publish",))
        stop = threading.Event()
        crowd_stats: dict[str, Any] = {}

        def crowd() -> None:
            crowd_stats["stats"] = run_crowd(
                market.worker_site_url,
                n_workers=options.crowd_size,
                seed=options.seed,
                truth=truth,
                time_scale=options.time_scale,
                idle_seconds=3600,
                stop_event=stop,
                concurrency=options.crowd_concurrency,
            )

        crowd_thread = threading.Thread(target=crowd, name="crowd", daemon=True)
        crowd_thread.start()
        try:
            with _progress_bars(engine, submitted.job_id, submitted.n_objects, options.show_progress) as update:
                _drive(engine, settings, update, options.auto_label)
        finally:
            stop.set()
            crowd_thread.join(timeout=30)
        mturk.forget_clients()
        stats = crowd_stats.get("stats")
        models = dict(stats.worker_models) if stats else {}
        return submitted.job_id, submitted.n_objects, models, work_histories(market.marketplace)


@contextmanager
def _progress_bars(engine: Any, job_id: int, n_objects: int, show: bool) -> Iterator[Callable[[], None]]:
    """Rich bars for published, answered and consolidated objects; yields the function that updates them."""
    if not show:
        yield lambda: None
        return
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    )
    bars = {name: progress.add_task(name, total=n_objects) for name in ("published", "answered", "consolidated")}
    last = [0.0]

    def update() -> None:
        if time.monotonic() - last[0] < 0.2:
            return
        last[0] = time.monotonic()
        with reading(engine) as session:
            report = job_status(session, job_by_id(session, job_id))
        progress.update(bars["published"], completed=report.published)
        progress.update(bars["answered"], completed=report.answered + report.failed)
        progress.update(bars["consolidated"], completed=report.consolidated)

    with progress:
        yield update
        last[0] = 0.0
        update()


def _drive(engine: Any, settings: Any, update: Callable[[], None], auto_label: bool = False) -> None:
    """The daemon's ticks in a loop (consolidation every few passes) until the job completes."""
    passes = 0
    while jobs_remaining(engine) > 0:
        last = ("consolidate", "output", "finalize")
        if auto_label:
            last = ("consolidate", "autolabel", "output", "finalize")
        ticks = ("publish", "collect", "review") + (last if passes % 5 == 4 else ())
        run_cycle(engine, settings, ticks=ticks)
        passes += 1
        update()
        time.sleep(0.5)


def _bookkeeping(engine: Any, job_id: int, wall: float) -> dict[str, Any]:
    """The summary fields every demo task shares: counts, money, wall time, the manifest."""
    with reading(engine) as session:
        job = job_by_id(session, job_id)
        counts = object_counts_by_status(session, job_id)
        n_assignments = assignment_count(session, job_id)
        money = job_money(session, job_id)
        return {
            "objects": sum(counts.values()),
            "assignments": n_assignments,
            "cost_cents": money.spent_cents,
            "wall_seconds": round(wall, 1),
            "output_manifest": str(job.output_manifest),
            "failed_objects": counts.get(ObjectStatus.FAILED, 0),
            "job_name": job.name,
            "db": str(sqlite_file(str(engine.url)) or ""),
        }


def _task_summary(engine: Any, job_id: int, task: TaskType, truth: dict[str, Any], wall: float) -> DemoSummary:
    return DemoSummary(
        accuracy=None,
        majority_vote_accuracy=None,
        task=task.demo.name,
        **_bookkeeping(engine, job_id, wall),
        **task_summary(task, engine, job_id, truth),
    )


def _summary(engine: Any, job_id: int, truth: dict[str, str], wall: float, auto_label: bool = False) -> DemoSummary:
    with reading(engine) as session:
        objects = object_results(session, job_id)
        rows = answers_for_consolidation(session, job_id)
    true = np.array([int(truth[json.loads(o.data_json)["source-ref"]]) for o in objects])
    labeled = (ObjectStatus.CONSOLIDATED, ObjectStatus.MACHINE_LABELED)
    em = np.array([int(json.loads(o.label_json)) if o.status in labeled else -1 for o in objects])
    majority = majority_labels(rows, len(objects), len(LABELS)) if rows else np.full(len(objects), -1)
    machine = np.array([o.status == ObjectStatus.MACHINE_LABELED for o in objects], dtype=bool)
    majority = np.where(machine, em, majority)  # auto-label: machine-labeled objects have no answers to vote on
    saved = None
    if auto_label:
        with reading(engine) as session:
            summary = autolabel_summary(session, job_by_id(session, job_id)) or {}
        saved = float(summary.get("cost", {}).get("saved_fraction", 0.0))
    return DemoSummary(
        accuracy=round(float((em == true).mean()), 4),
        majority_vote_accuracy=round(float((majority == true).mean()), 4),
        **_bookkeeping(engine, job_id, wall),
        machine_labeled=int(machine.sum()) if auto_label else None,
        machine_label_accuracy=round(float((em[machine] == true[machine]).mean()), 4) if machine.any() else None,
        cost_saved_fraction=saved,
    )
