"""Jobs run on the embedded marketplace by the simulated crowd, on one simulated clock.

The marketplace's clock stands still until moved; the crowd (a discrete-event simulation,
broker.marketplace.crowd.simulation) and the broker's ticks (the same stages `broker run`
schedules, talking to the marketplace over HTTP with boto3) take turns on it: the crowd plays
its events up to the next tick's time, the clock moves there, the ticks due then run. The
broker reads its own time from that clock too. Everything happens in one thread in a fixed
order, so a seed gives the same run whatever the machine's load: the demo and pricing
experiments repeat exactly and take seconds of wall time for hours of simulated work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from broker import mturk
from broker.daemon import TICKS, jobs_remaining, run_cycle
from broker.domain.clock import simulated_time
from broker.experiments.analysis import ArmData, ExperimentAnalysis
from broker.experiments.pricing import (
    PricingExperimentSpec,
    adaptive_round_due,
    analyse_experiment,
    experiment_data,
    known_answers,
    submit_experiment,
)
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.crowd import models
from broker.marketplace.crowd.simulation import SimulatedCrowd
from broker.marketplace.server import RunningMarketplace, start_in_thread
from broker.settings import Settings, load_settings
from broker.store import dispose_engine, get_engine, reading

# A day of simulated time with nothing left to do ends a run that can no longer finish (e.g. its
# reward is below every simulated worker's reservation wage).
DEFAULT_MAX_SIMULATED_SECONDS = 30 * 86_400.0


@dataclass
class SimulatedRun:
    """The marketplace, the crowd and the broker settings of one simulated run."""

    market: RunningMarketplace
    crowd: SimulatedCrowd
    settings: Settings
    started_at: datetime

    @property
    def simulated_seconds(self) -> float:
        return (self.market.marketplace.clock.now() - self.started_at).total_seconds()


@contextmanager
def simulated_marketplace(
    *,
    db_url: str,
    file_roots: list[str],
    seed: int,
    crowd_size: int,
    truth: Mapping[str, Any] | None,
    mix: str | Mapping[str, float] = models.DEFAULT_MIX,
    start: datetime | None = None,
    worker_history: str | None = None,
) -> Iterator[SimulatedRun]:
    """An embedded marketplace on a simulated clock with a seeded crowd; the broker's clock follows it
    (`worker_history`: the crowd's work histories, broker.marketplace.history)."""
    config = MarketplaceConfig(
        db_path=":memory:",
        file_roots=file_roots,
        simulated_clock=True,
        id_seed=seed,
        worker_history=worker_history,
    )
    market = start_in_thread(config)
    try:
        marketplace = market.marketplace
        if start is not None:
            marketplace.clock.advance_to(start)
        settings = load_settings(db_url=db_url, local_endpoint_url=market.endpoint_url)
        mturk.forget_clients()
        crowd = SimulatedCrowd(
            marketplace,
            specs=models.worker_specs(crowd_size, seed, mix),
            seed=seed,
            truth=truth,
            file_server_url=market.worker_site_url,
        )
        with simulated_time(marketplace.clock.now):
            yield SimulatedRun(market, crowd, settings, marketplace.clock.now())
    finally:
        mturk.forget_clients()
        market.stop()


def tick_intervals(settings: Settings) -> dict[str, float]:
    """Seconds between runs of each tick, as `broker run` schedules them (in simulated time here)."""
    return {name: float(getattr(settings.ticks, f"{name}_seconds", 10)) for name in TICKS}


def run_simulation(
    engine: Any,
    run: SimulatedRun,
    *,
    max_simulated_seconds: float = DEFAULT_MAX_SIMULATED_SECONDS,
    on_round: Callable[[], None] | None = None,
) -> bool:
    """Crowd and ticks in turn until every job is done; False if simulated time ran out first."""
    clock = run.market.marketplace.clock
    intervals = tick_intervals(run.settings)
    start = clock.now()
    due = dict.fromkeys(TICKS, start)
    deadline = start + timedelta(seconds=max_simulated_seconds)
    while jobs_remaining(engine) > 0:
        moment = min(due.values())
        if moment > deadline:
            return False
        run.crowd.run_until(moment)
        clock.advance_to(moment)
        ticks = tuple(name for name in TICKS if due[name] <= moment)
        run_cycle(engine, run.settings, ticks=ticks)
        for name in ticks:
            due[name] = moment + timedelta(seconds=intervals[name])
        if on_round is not None:
            on_round()
    return True


def fresh_sqlite_url(folder: Path, name: str) -> str:
    """A new SQLite broker DB in `folder` (an earlier run's file and its WAL removed)."""
    db = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return f"sqlite:///{db}"


# The simulated crowd of an experiment: as many workers as the demo's crowd.
EXPERIMENT_CROWD_SIZE = 40


@dataclass
class SimulatedExperiment:
    """A simulated experiment's arms, read back from its broker DB."""

    spec: PricingExperimentSpec  # with the seed used
    data: list[ArmData]
    finished: bool  # False: simulated time ran out with work left
    no_work_reasons: list[str] = field(default_factory=list)  # why the crowd left HITs it may not take


def simulate_experiment_data(
    spec: PricingExperimentSpec,
    folder: Path,
    *,
    seed: int | None = None,
    crowd_size: int = EXPERIMENT_CROWD_SIZE,
    arms: list[str] | None = None,
) -> SimulatedExperiment:
    """Post the arms (all, or those named in `arms`) on the embedded marketplace, let the simulated
    crowd and the daemon's ticks run them to the end, and read each arm's objects back.

    `seed` (default: the spec's) seeds the split of objects into arms, the crowd and the bootstrap,
    so a seed repeats the run exactly. The arms' files and a fresh broker DB go to `folder`; the
    arms run on the local marketplace whatever the base job names, and write their output there.
    """
    spec = spec.model_copy(update={"seed": spec.seed if seed is None else seed})
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    db_url = fresh_sqlite_url(folder, f"{spec.experiment}-simulated.db")
    roots = sorted({str(folder), str(Path(spec.job).resolve().parent)})
    overrides = {"marketplace": "local", "output": str(folder / "output")}
    chosen = [arm.name for arm in spec.arms if arms is None or arm.name in arms]
    rounds = [[name] for name in chosen] if spec.design == "sequential" else [chosen]
    try:
        with simulated_marketplace(
            db_url=db_url, file_roots=roots, seed=spec.seed, crowd_size=crowd_size, truth=known_answers(spec)
        ) as run:
            engine = get_engine(db_url)
            finished = True
            if spec.allocation == "thompson":  # a round at a time, each allocated on the rounds before it
                rounds = []
                while finished and (due := adaptive_round_due(spec, engine)) is not None:
                    submit_experiment(
                        spec, folder / "arms", engine, run.settings, overrides=overrides, adaptive_round=due
                    )
                    finished = run_simulation(engine, run)
            for names in rounds:
                submit_experiment(spec, folder / "arms", engine, run.settings, arms=names, overrides=overrides)
                finished = run_simulation(engine, run) and finished
            now = run.market.marketplace.clock.now()
            with reading(engine) as session:
                data = experiment_data(session, spec, now=now, arms=chosen)
            reasons = run.crowd.stats.no_work_reasons()
    finally:
        dispose_engine(db_url)
    return SimulatedExperiment(spec, data, finished, reasons)


def simulate_pricing_experiment(
    spec: PricingExperimentSpec, folder: Path, *, seed: int | None = None, crowd_size: int = EXPERIMENT_CROWD_SIZE
) -> ExperimentAnalysis:
    """The whole experiment on the embedded marketplace with the simulated crowd, then its analysis."""
    run = simulate_experiment_data(spec, folder, seed=seed, crowd_size=crowd_size)
    analysis = analyse_experiment(run.spec, run.data)
    analysis.notes.append(
        f"simulated on the embedded marketplace: {crowd_size} simulated workers, seed {run.spec.seed}"
        + ("" if run.finished else f"; stopped after {DEFAULT_MAX_SIMULATED_SECONDS / 86_400:.0f} simulated days")
    )
    analysis.notes.extend(run.no_work_reasons)
    return analysis
