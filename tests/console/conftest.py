"""Console fixtures: a real job on the embedded marketplace, answered and waiting for manual review,
and the console serving its broker DB in a thread.

Job "test-job": image-classification, labels red/green/blue, 6 objects, 3 answers each, `approve:
manual`. AWORKERONE0001 and AWORKERTWO0002 answer truthfully; ASPAMMER000003 always answers
"red", which the worker report flags as a likely spammer.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker import mturk
from broker.console import ConsoleConfig, RunningConsole, start_in_thread
from broker.daemon import run_cycle
from broker.stages.submit import submit_job
from tests.engine.conftest import (  # noqa: F401  (fixtures)
    JobFiles,
    answer_open_hits,
    engine,
    market,
    settings,
    truthful,
    write_job,
)

HONEST = ["AWORKERONE0001", "AWORKERTWO0002"]
SPAMMER = "ASPAMMER000003"


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    """The console reads whatever DB it is given; these browser tests use a SQLite file."""
    return f"sqlite:///{tmp_path}/broker.db"


@dataclass
class ReviewedJob:
    files: JobFiles
    market: Any
    settings: Any
    engine: Any
    client: Any  # boto3 mturk client on the marketplace, to check what the console did there


@pytest.fixture()
def waiting_job(tmp_path: Path, market, settings, engine) -> ReviewedJob:  # noqa: F811
    files = write_job(tmp_path / "job", "image-classification", 6, review_policy={"approve": "manual"})
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    answer_open_hits(market, truthful(files.truth), HONEST)
    answer_open_hits(market, lambda block, worker: "red", [SPAMMER])
    run_cycle(engine, settings)
    run_cycle(engine, settings)
    client = mturk.client_for(mturk.resolve_target("local", settings))
    return ReviewedJob(files, market, settings, engine, client)


@pytest.fixture()
def console(waiting_job: ReviewedJob):
    running: RunningConsole = start_in_thread(ConsoleConfig(engine=waiting_job.engine, settings=waiting_job.settings))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the console tests save their screenshots (also copied to $CONSOLE_SCREENSHOTS when set)."""
    return tmp_path_factory.mktemp("console-screenshots")


def keep_screenshot(page: Any, folder: Path, name: str) -> Path:
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000  # something was drawn
    extra = os.environ.get("CONSOLE_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)
    return path
