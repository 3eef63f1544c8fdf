"""`broker run`: APScheduler runs the ticks until every job is done or a signal stops it.

The ticks are the stages, plain functions over the DB (broker.stages: publish, collect, review,
consolidate, quality, autolabel, output, finalize); APScheduler only schedules them. On SQLite
(one writer at a time) one thread runs them one at a time; on PostgreSQL each stage has its own
thread, so a slow stage never holds up the others. Publish and review claim their rows batch by
batch, so daemons sharing a DB split one job's HITs and approvals; before any other stage works on
a job, the daemon takes that (job, stage)'s lease (broker.store.claims), so daemons never do the
same work. SIGTERM / SIGINT let the running tick finish its current step and stop; whatever was
committed is where the next `broker run` resumes.

Each tick runs job by job: an exception or error in one job is that job's alone (logged in full,
recorded as a stage failure for its attention list) and never keeps another job from its turn.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from broker import mturk
from broker.stages.autolabel import autolabel_tick
from broker.stages.collect import collect_tick
from broker.stages.consolidate import consolidate_tick
from broker.stages.finalize import finalize_tick
from broker.stages.intake import intake_tick
from broker.stages.output import output_tick
from broker.stages.publish import publish_tick
from broker.stages.quality import quality_tick
from broker.stages.review import review_tick
from broker.store import database_unreachable, reading, transaction
from broker.store.attention import record_stage_failure, record_stage_success
from broker.store.claims import ROW_CLAIMED_STAGES, claim_jobs, holding_lease, release_lease, take_lease
from broker.store.jobs import unfinished_job_count
from broker.store.tables import Job

log = logging.getLogger(__name__)

TICKS: dict[str, Callable[..., Any]] = {
    "intake": intake_tick,  # streaming jobs: new objects from their input queue, file or prefix
    "publish": publish_tick,
    "collect": collect_tick,
    "review": review_tick,
    "consolidate": consolidate_tick,
    "quality": quality_tick,  # exclusion and bonus rules; objects that lost answers go back to publish
    "autolabel": autolabel_tick,  # machine-label what the model is sure of, release the next batch
    "output": output_tick,  # write the output tree when consolidation moved on
    "finalize": finalize_tick,
}


@dataclass
class CycleReport:
    """What one pass of every tick did: per tick the reports of its jobs; one line per failure."""

    reports: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class TickResult:
    """One tick over every job it claims: each job's report, and one line per job that failed."""

    reports: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(int(getattr(report, attribute, 0) or 0) for report in self.reports)


def _claimed(engine: Any, name: str) -> list[Job]:
    with reading(engine) as session:
        return claim_jobs(session, name)


def run_tick(name: str, engine: Any, settings: Any) -> TickResult:
    """Run one tick job by job; a job's exception or errors are recorded for it, never fatal to others."""
    result = TickResult()
    try:
        jobs = _claimed(engine, name)
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        line = f"{name}: the broker DB cannot be reached ({_first_line(exc)}); the tick runs again at its next interval"
        log.warning("%s", line)
        result.errors.append(line)
        return result
    for job in jobs:
        try:
            # publish and review claim their rows batch by batch; the other stages hold the job's lease
            if name not in ROW_CLAIMED_STAGES and not take_lease(engine, int(job.id), name):
                continue  # another daemon is doing this stage of this job
            with mturk.calls_for_job(int(job.id)), holding_lease(engine, int(job.id), name):
                report = TICKS[name](engine, settings, job_ids=[job.id])
        except Exception as exc:  # one job's failure must not stop the other jobs; it retries next time
            if database_unreachable(exc):
                log.warning("%s tick for job %s: the broker DB cannot be reached: %s", name, job.name, _first_line(exc))
                result.errors.append(f"{name}: job {job.name}: the broker DB cannot be reached")
                continue  # nothing can be recorded; the tick runs again at its next interval
            log.exception("%s tick failed for job %s", name, job.name)
            problem = mturk.describe_error(exc)
        else:
            result.reports.append(report)
            errors = [str(e) for e in getattr(report, "errors", [])]
            problem = errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "") if errors else None
            for error in errors:
                log.warning("%s: job %s: %s", name, job.name, error)
        try:
            with transaction(engine) as session:
                if problem is None:
                    record_stage_success(session, job.id, name)
                else:
                    record_stage_failure(session, job.id, name, problem)
        except Exception:  # the DB itself failing: logged; the tick's own outcome stands
            log.exception("could not record the %s tick's outcome for job %s", name, job.name)
        if problem is not None:
            result.errors.append(f"{name}: job {job.name}: {problem}")
    return result


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def run_cycle(engine: Any, settings: Any, ticks: tuple[str, ...] = tuple(TICKS)) -> CycleReport:
    """Every tick once, in data-flow order (`broker collect --once`, tests, the demo)."""
    cycle = CycleReport()
    for name in ticks:
        result = run_tick(name, engine, settings)
        cycle.reports[name] = result
        cycle.errors += result.errors
    return cycle


def run_until_done(
    engine: Any,
    settings: Any,
    *,
    stop: threading.Event | None = None,
    poll_seconds: float = 0.5,
    intervals: dict[str, float] | None = None,
    on_tick: Callable[[str, Any], None] | None = None,
) -> bool:
    """Schedule the ticks with APScheduler until no job is left or `stop` is set.

    Returns True when every job finished, False when stopped first.
    """
    # heavy optional dependency: APScheduler takes a fifth of a second to import; only `broker run` needs it
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    stop = stop or threading.Event()
    ticks = settings.ticks if settings is not None else None
    intervals = intervals or {name: float(getattr(ticks, f"{name}_seconds", 10)) for name in TICKS}
    # PostgreSQL: each stage on its own thread, so a slow review never holds up publish and collect
    # (a stage never overlaps itself: max_instances 1). SQLite has one writer at a time: one thread.
    threads = len(TICKS) if engine.dialect.name == "postgresql" else 1
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(threads)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    finished = threading.Event()

    def tick(name: str) -> None:
        if stop.is_set():
            return
        result = run_tick(name, engine, settings)
        if on_tick is not None:
            on_tick(name, result)
        if name == "finalize" and jobs_remaining(engine) == 0:
            finished.set()

    start = datetime.now(UTC)
    for name in TICKS:
        scheduler.add_job(tick, "interval", args=[name], seconds=intervals[name], id=name, next_run_time=start)
    scheduler.start()
    try:
        while not stop.is_set() and not finished.is_set():
            time.sleep(poll_seconds)
    finally:
        scheduler.shutdown(wait=True)
        try:
            mturk.flush_call_counts()
        except Exception:  # counts are a report; the DB gone loses at most the last second's
            log.exception("could not store the last MTurk call counts")
        try:  # hand this daemon's leases to the others now rather than at their expiry
            release_lease(engine)
        except Exception:  # the DB gone too: the leases expire on their own
            log.exception("could not release this daemon's stage leases")
    return finished.is_set()


def jobs_remaining(engine: Any) -> int:
    """Jobs the daemon still has work for (active, or cancelled and not finalized yet)."""
    with reading(engine) as session:
        return unfinished_job_count(session)


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`: the daemon finishes the running tick and exits cleanly."""

    def handler(signum: int, frame: Any) -> None:
        log.info("signal %s: stopping after the current tick", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
