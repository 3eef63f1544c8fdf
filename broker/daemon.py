"""`broker run`: APScheduler runs the five ticks until every job is done or a signal stops it.

The ticks are plain functions over the DB (broker.publish, .collect, .review, .consolidate,
.finalize); APScheduler only schedules them. One worker thread runs them one at a time, so two
ticks never interleave their transactions. SIGTERM / SIGINT let the running tick finish its
current step and stop; whatever was committed is where the next `broker run` resumes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.engine import Engine

from broker.autolabel.daemon import autolabel_tick
from broker.collect import collect_tick
from broker.consolidate import consolidate_tick
from broker.finalize import active_jobs_remaining, finalize_tick
from broker.publish import publish_tick
from broker.quality import quality_tick
from broker.review import review_tick

log = logging.getLogger(__name__)

TICKS: dict[str, Callable[..., Any]] = {
    "publish": publish_tick,
    "collect": collect_tick,
    "review": review_tick,
    "consolidate": consolidate_tick,
    "quality": quality_tick,      # issue 6: exclusion and bonus rules (broker.quality)
    "autolabel": autolabel_tick,  # issue 7: machine-label, release the next batch (broker.autolabel.daemon)
    "finalize": finalize_tick,
}


@dataclass
class CycleReport:
    """What one pass of every tick did."""

    reports: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def run_tick(name: str, engine: Engine, settings: Any) -> Any:
    """Run one tick; an exception is logged and reported, never fatal to the daemon."""
    try:
        return TICKS[name](engine, settings)
    except Exception as exc:  # a tick failing must not stop the others; it retries next time
        log.exception("%s tick failed", name)
        return exc


def run_cycle(engine: Engine, settings: Any, ticks: tuple[str, ...] = tuple(TICKS)) -> CycleReport:
    """Every tick once, in data-flow order (`broker collect --once`, tests, the demo)."""
    cycle = CycleReport()
    for name in ticks:
        result = run_tick(name, engine, settings)
        cycle.reports[name] = result
        if isinstance(result, Exception):
            cycle.errors.append(f"{name}: {result}")
        else:
            cycle.errors += [f"{name}: {e}" for e in getattr(result, "errors", [])]
    return cycle


def run_until_done(engine: Engine, settings: Any, *, stop: threading.Event | None = None,
                   poll_seconds: float = 0.5, intervals: dict[str, float] | None = None,
                   on_tick: Callable[[str, Any], None] | None = None) -> bool:
    """Schedule the ticks with APScheduler until no job is left or `stop` is set.

    Returns True when every job finished, False when stopped first.
    """
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    stop = stop or threading.Event()
    ticks = settings.ticks if settings is not None else None
    intervals = intervals or {name: float(getattr(ticks, f"{name}_seconds", 10)) for name in TICKS}
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(1)},
                                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
                                    timezone="UTC")
    finished = threading.Event()

    def tick(name: str) -> None:
        if stop.is_set():
            return
        result = run_tick(name, engine, settings)
        if on_tick is not None:
            on_tick(name, result)
        if name == "finalize" and active_jobs_remaining(engine) == 0:
            finished.set()

    from datetime import datetime, timezone

    start = datetime.now(timezone.utc)
    for name in TICKS:
        scheduler.add_job(tick, "interval", args=[name], seconds=intervals[name], id=name, next_run_time=start)
    scheduler.start()
    try:
        while not stop.is_set() and not finished.is_set():
            time.sleep(poll_seconds)
    finally:
        scheduler.shutdown(wait=True)
    return finished.is_set()


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`: the daemon finishes the running tick and exits cleanly."""

    def handler(signum: int, frame: Any) -> None:
        log.info("signal %s: stopping after the current tick", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
