"""Stage leases: one daemon per (job, stage) at a time; a dead or expired holder is taken over."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import select

from broker import daemon
from broker.domain.clock import simulated_time, utcnow
from broker.stages.submit import submit_job
from broker.store import claims
from broker.store.engine import reading, transaction
from broker.store.tables import Job, StageLease
from tests.engine.conftest import write_job


@pytest.fixture()
def job_id(engine) -> int:
    with transaction(engine) as session:
        job = Job(
            name="leased",
            task_type="image_classification",
            spec_json="{}",
            template_source="",
            labels_json="[]",
            output_uri="/tmp/out",
            reward_cents=5,
            workers_per_object=3,
            max_concurrent_hits=10,
            created_at=utcnow(),
        )
        session.add(job)
        session.flush()
        return int(job.id)


def _hand_to(engine, job_id: int, stage: str, owner: str, expires_in: float) -> None:
    with transaction(engine) as session:
        lease = session.get(StageLease, (job_id, stage))
        lease.owner, lease.expires_at = owner, utcnow() + timedelta(seconds=expires_in)


def test_a_lease_is_taken_renewed_released_and_kept_from_others(engine, job_id, monkeypatch) -> None:
    assert claims.take_lease(engine, job_id, "publish")
    assert claims.take_lease(engine, job_id, "publish")  # renewed by its holder
    assert claims.take_lease(engine, job_id, "review")  # another stage of the job is another lease
    monkeypatch.setattr(claims, "_TOKEN", "another-daemon")  # the same host and pid, another daemon
    assert not claims.take_lease(engine, job_id, "publish")
    claims.release_lease(engine, job_id, "publish")  # not its lease: left alone
    assert not claims.take_lease(engine, job_id, "publish")
    monkeypatch.undo()
    claims.release_lease(engine, job_id, "publish")
    monkeypatch.setattr(claims, "_TOKEN", "another-daemon")
    assert claims.take_lease(engine, job_id, "publish")  # released: free for anyone
    with reading(engine) as session:
        owners = {lease.stage: lease.owner for lease in session.exec(select(StageLease))}
    assert owners["publish"].endswith(":another-daemon") and not owners["review"].endswith(":another-daemon")


def test_an_expired_lease_is_taken_over(engine, job_id) -> None:
    assert claims.take_lease(engine, job_id, "collect")
    _hand_to(engine, job_id, "collect", "elsewhere:123:abcd", expires_in=60)
    assert not claims.take_lease(engine, job_id, "collect")  # another host's daemon, lease running
    later = utcnow() + timedelta(seconds=61)
    with simulated_time(lambda: later):
        assert claims.take_lease(engine, job_id, "collect")


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(engine, job_id) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    host = claims.this_daemon().split(":")[0]
    assert claims.take_lease(engine, job_id, "quality")
    _hand_to(engine, job_id, "quality", f"{host}:{dead_pid}:dead", expires_in=3600)
    assert claims.take_lease(engine, job_id, "quality")
    _hand_to(engine, job_id, "quality", f"{host}:1:alive", expires_in=3600)  # pid 1 runs: not taken
    assert not claims.take_lease(engine, job_id, "quality")


def test_on_postgresql_a_slow_stage_does_not_hold_up_the_others(tmp_path, engine, settings, monkeypatch) -> None:
    """`broker run` on PostgreSQL runs each stage on its own thread: publish keeps its schedule while review hangs."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the daemon runs its stages on one thread")
    submit_job(write_job(tmp_path / "job", "text-classification", 2).spec_path, engine, settings)
    review_running, review_may_finish, enough_publishes = threading.Event(), threading.Event(), threading.Event()
    during_review: list[int] = []  # publish ticks that ran while the review tick hung

    def hanging_review(engine, settings, job_ids=None):
        review_running.set()
        review_may_finish.wait(30)
        return SimpleNamespace(errors=[])

    def counting_publish(engine, settings, job_ids=None):
        if review_running.is_set() and not review_may_finish.is_set():
            during_review.append(1)
            if len(during_review) >= 3:
                enough_publishes.set()
        return SimpleNamespace(errors=[])

    monkeypatch.setitem(daemon.TICKS, "review", hanging_review)
    monkeypatch.setitem(daemon.TICKS, "publish", counting_publish)
    stop = threading.Event()
    intervals = {name: 0.05 for name in daemon.TICKS}
    runner = threading.Thread(
        target=daemon.run_until_done, args=(engine, settings), kwargs={"stop": stop, "intervals": intervals}
    )
    runner.start()
    try:
        assert enough_publishes.wait(20)  # three publish ticks while the review tick hung
    finally:
        review_may_finish.set()
        stop.set()
        runner.join(30)
    assert not runner.is_alive()
    with reading(engine) as session:  # the daemon handed its leases back when it stopped
        assert all(lease.expires_at <= utcnow() for lease in session.exec(select(StageLease)))


def test_a_daemon_started_with_other_settings_is_told_so(engine, monkeypatch) -> None:
    """`broker run` records a digest of its settings; a daemon with other settings hears of the
    running ones (it warns; a rolling restart onto new settings stays possible)."""
    assert claims.register_daemon(engine, "digest-a", "a.yaml") == []
    monkeypatch.setattr(claims, "_TOKEN", "second-daemon")
    assert claims.register_daemon(engine, "digest-a", "a.yaml") == []  # the same settings: nothing to say
    monkeypatch.setattr(claims, "_TOKEN", "third-daemon")
    others = claims.register_daemon(engine, "digest-b", "b.yaml")
    assert sorted(file for _, file in others) == ["a.yaml", "a.yaml"]
    assert all(owner.startswith(claims.this_daemon().rsplit(":", 1)[0]) for owner, _ in others)


def test_the_settings_digest_follows_every_setting(tmp_path) -> None:
    from broker.settings import load_settings

    base = load_settings(db_url=f"sqlite:///{tmp_path}/b.db")
    assert base.digest() == load_settings(db_url=f"sqlite:///{tmp_path}/b.db").digest()
    assert base.digest() != load_settings(db_url=f"sqlite:///{tmp_path}/b.db", local_calls_per_second=5).digest()
