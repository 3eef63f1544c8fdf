"""`broker run`: APScheduler drives the ticks to completion; SIGTERM stops it cleanly; collected
HITs are never fetched twice, whether or not they were marked Reviewing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlmodel import Session, select

from broker import mturk
from broker.domain.lifecycle import HitStatus, JobStatus
from broker.stages.collect import collect_tick
from broker.stages.publish import publish_tick
from broker.stages.submit import submit_job
from broker.store import get_engine
from broker.store.tables import Hit, Job
from tests.engine.conftest import WORKERS_DEFAULT, answer_open_hits, truthful, write_job

FAST_TICKS = {
    f"BROKER_TICKS__{name.upper()}_SECONDS": "0.2"
    for name in ("publish", "collect", "review", "consolidate", "finalize")
}


def _daemon(settings) -> subprocess.Popen:
    env = dict(
        os.environ,
        BROKER_DB_URL=settings.db_url,
        BROKER_LOCAL_ENDPOINT_URL=settings.local_endpoint_url,
        PYTHONPATH=os.getcwd(),
        **FAST_TICKS,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_broker_run_finishes_every_job_and_exits(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 4)
    submit_job(files.spec_path, engine, settings)
    daemon = _daemon(settings)
    try:
        _wait(lambda: len(market.marketplace.hits) == 4)
        answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT)
        out, err = daemon.communicate(timeout=120)
    finally:
        daemon.kill() if daemon.poll() is None else None
    assert daemon.returncode == 0, err[-2000:]
    assert "all jobs done" in out
    with Session(get_engine(settings.db_url)) as session:
        assert session.exec(select(Job)).one().status == JobStatus.COMPLETED


def test_sigterm_stops_the_daemon_cleanly_and_a_restart_resumes(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 3)
    submit_job(files.spec_path, engine, settings)
    daemon = _daemon(settings)
    _wait(lambda: len(market.marketplace.hits) == 3)
    daemon.send_signal(signal.SIGTERM)
    out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err[-2000:]
    assert "stopped" in out
    with Session(engine) as session:
        assert {h.status for h in session.exec(select(Hit))} == {HitStatus.OPEN}
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT)
    restarted = _daemon(settings)
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0 and "all jobs done" in out, err[-2000:]
    assert len(market.marketplace.hits) == 3  # the restart created nothing new
    assert sorted(a.status for a in market.marketplace.assignments.values()) == ["Approved"] * 9


def test_collected_hits_left_reviewable_are_not_fetched_again(tmp_path, market, settings, engine):
    from broker.settings import load_settings

    # a long collect interval: few listings remain, so leaving HITs Reviewable is cheaper than marking
    slow = load_settings(
        db_url=settings.db_url, local_endpoint_url=settings.local_endpoint_url, ticks={"collect_seconds": 10_000}
    )
    files = write_job(tmp_path / "job", "text-classification", 2)
    submit_job(files.spec_path, engine, slow)
    publish_tick(engine, slow)
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT)
    counter = mturk.CallCounter().attach(mturk.client_for(mturk.resolve_target("local", slow)))
    assert collect_tick(engine, slow).assignments_stored == 6
    # per HIT one page: it holds all MaxAssignments (3) assignments, so the NextToken MTurk sends
    # with it (whose page would be empty) is not followed
    assert counter.calls["ListAssignmentsForHIT"] == 2 and counter.calls["UpdateHITReviewStatus"] == 0
    now = market.marketplace.clock.now()
    assert {market.marketplace._hit_status(h, now) for h in market.marketplace.hits.values()} == {"Reviewable"}
    again = collect_tick(engine, slow)
    assert again.hits_seen == 2 and again.assignments_stored == 0
    assert counter.calls["ListAssignmentsForHIT"] == 2  # no second fetch

    collect_tick(engine, settings)  # every object answered: no listing left to save, still unmarked
    with Session(engine) as session:
        assert {h.status for h in session.exec(select(Hit))} == {HitStatus.COLLECTED}
