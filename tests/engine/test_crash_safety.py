"""A daemon killed mid-publish (after CreateHIT returned, before the commit) and restarted
creates no duplicate HIT; a review tick that lost its results pays nobody twice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager

import pytest
from sqlmodel import Session, select

from broker.actions import hits
from broker.domain.lifecycle import ReviewStatus
from broker.stages.collect import collect_tick
from broker.stages.publish import publish_tick
from broker.stages.review import review_tick
from broker.stages.submit import submit_job
from broker.store import reading
from broker.store.tables import Assignment, Hit
from tests.engine.conftest import answer_open_hits, truthful, write_job

KILL_SCRIPT = textwrap.dedent("""
    import os, sys
    from broker import mturk
    from broker.store import get_engine
    from broker.stages.publish import publish_tick
    from broker.settings import load_settings

    settings = load_settings(db_url=sys.argv[1], local_endpoint_url=sys.argv[2])
    client = mturk.client_for(mturk.resolve_target("local", settings))
    created = 0

    def die_after(http_response=None, parsed=None, model=None, **kwargs):
        global created
        if model.name == "CreateHITWithHITType":
            created += 1
            if created == int(sys.argv[3]):
                os._exit(9)          # killed: the HIT exists, the broker never committed it

    client.meta.events.register("after-call.mturk", die_after)
    publish_tick(get_engine(settings.db_url), settings)
""")


def _remote_hits(market) -> list:
    return [h for h in market.marketplace.hits.values() if not h.disposed]


def test_killed_publish_then_restart_creates_no_duplicate_hit(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 8)
    submit_job(files.spec_path, engine, settings)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    result = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, settings.db_url, market.endpoint_url, "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 9, result.stderr
    assert len(_remote_hits(market)) == 5  # five HITs exist on the marketplace
    with Session(engine) as session:
        rows = session.exec(select(Hit)).all()
    assert len(rows) == 8 and all(r.status == "creating" for r in rows)  # none confirmed

    report = publish_tick(engine, settings)
    assert report.hits_recovered == 8 and report.hits_created == 0
    remote = _remote_hits(market)
    assert len(remote) == 8  # 5 recovered by token + 3 created: no duplicate
    with Session(engine) as session:
        rows = session.exec(select(Hit)).all()
    assert sorted(r.hit_id for r in rows) == sorted(h.id for h in remote)
    assert publish_tick(engine, settings).hits_created == 0


def test_exception_after_create_before_commit_is_recovered(tmp_path, market, settings, engine, monkeypatch):
    files = write_job(tmp_path / "job", "image-classification", 4)
    submit_job(files.spec_path, engine, settings)
    original = hits._record_created

    def crash(*args, **kwargs):
        raise RuntimeError("power cut before commit")

    monkeypatch.setattr(hits, "_record_created", crash)
    with pytest.raises(RuntimeError):
        publish_tick(engine, settings)
    assert len(_remote_hits(market)) == 4
    monkeypatch.setattr(hits, "_record_created", original)
    publish_tick(engine, settings)
    assert len(_remote_hits(market)) == 4
    with Session(engine) as session:
        assert {r.status for r in session.exec(select(Hit))} == {"open"}


def test_review_results_lost_in_a_crash_are_settled_without_paying_twice(
    tmp_path, market, settings, engine, monkeypatch
):
    from broker.stages import review

    files = write_job(tmp_path / "job", "text-classification", 2)
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    answer_open_hits(market, truthful(files.truth), ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03"])
    collect_tick(engine, settings)
    balance_before = market.marketplace.account.balance_cents

    class PowerCut(Exception):
        pass

    real_transaction = review.transaction

    @contextmanager
    def lose_commit(engine_):  # the calls are made; the power goes before the outcomes are committed
        with reading(engine_) as session:
            yield session
        raise PowerCut()

    monkeypatch.setattr(review, "transaction", lose_commit)
    with pytest.raises(PowerCut):
        review_tick(engine, settings)
    assert {a.status for a in market.marketplace.assignments.values()} == {"Approved"}
    with Session(engine) as session:
        assert {a.review_status for a in session.exec(select(Assignment))} == {ReviewStatus.PENDING}

    monkeypatch.setattr(review, "transaction", real_transaction)
    report = review_tick(engine, settings)
    assert report.approved == 0 and report.settled == 6 and report.errors == []
    with Session(engine) as session:
        assert {a.review_status for a in session.exec(select(Assignment))} == {ReviewStatus.APPROVED}
    assert market.marketplace.account.balance_cents == balance_before - 6 * 6  # 5c + 1c fee, once each


def test_rows_older_than_the_token_lifetime_are_found_by_annotation_not_recreated(
    tmp_path, market, settings, engine, monkeypatch
):
    from datetime import timedelta

    from sqlalchemy import update

    from broker.domain.clock import utcnow
    from broker.store import transaction

    files = write_job(tmp_path / "job", "text-classification", 3)
    submit_job(files.spec_path, engine, settings)
    original = hits._record_created
    monkeypatch.setattr(hits, "_record_created", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("cut")))
    with pytest.raises(RuntimeError):
        publish_tick(engine, settings)
    monkeypatch.setattr(hits, "_record_created", original)
    market.marketplace.clock.advance(25 * 3600)  # the marketplace has forgotten the tokens
    with transaction(engine) as session:
        session.execute(update(Hit).values(created_at=utcnow() - timedelta(hours=25)))
    from broker import mturk

    counter = mturk.CallCounter().attach(mturk.client_for(mturk.resolve_target("local", settings)))
    report = publish_tick(engine, settings)
    assert report.hits_recovered == 3 and report.hits_created == 0
    assert counter.calls["ListHITs"] >= 1 and counter.calls["CreateHITWithHITType"] == 0
    assert len(market.marketplace.hits) == 3
    with Session(engine) as session:
        rows = session.exec(select(Hit)).all()
    assert sorted(r.hit_id for r in rows) == sorted(market.marketplace.hits)
