"""Publish creates the next HIT of an object that quality control sent back to pending.

The next HIT has attempt = the object's last attempt + 1, its own deterministic token, and asks
for the object's max_assignments answers (priced by that MaxAssignments); a crash between
CreateHIT and the commit still yields one HIT per attempt.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from broker.actions import hits
from broker.domain.lifecycle import HitStatus, ObjectStatus
from broker.domain.tokens import request_token
from broker.stages.collect import collect_tick
from broker.stages.publish import publish_tick
from broker.stages.submit import submit_job
from broker.store import DataObject, Hit, Job, advance, transaction
from tests.engine.conftest import WORKERS_DEFAULT, answer_open_hits, truthful, write_job


def _answered_job(tmp_path, market, settings, engine, n_objects: int = 2):
    files = write_job(tmp_path / "job", "text-classification", n_objects)
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT)
    collect_tick(engine, settings)
    with Session(engine) as session:
        assert {o.status for o in session.exec(select(DataObject))} == {ObjectStatus.ANSWERED}
    return files


def _ask_for_more(engine, index: int, answers: int) -> None:
    """What quality control does: the object goes back to pending, asking for `answers` more."""
    with transaction(engine) as session:
        obj = session.exec(select(DataObject).where(DataObject.index == index)).one()
        advance(session, [obj.id], ObjectStatus.PENDING, job_id=obj.job_id, values={"max_assignments": answers})


def _hits_of(engine, index: int) -> list[Hit]:
    with Session(engine) as session:
        obj = session.exec(select(DataObject).where(DataObject.index == index)).one()
        return list(session.exec(select(Hit).where(Hit.object_id == obj.id).order_by(Hit.attempt)))


def test_an_object_sent_back_to_pending_gets_its_next_attempt(tmp_path, market, settings, engine):
    _answered_job(tmp_path, market, settings, engine)
    _ask_for_more(engine, 0, 2)
    report = publish_tick(engine, settings)
    assert report.hits_created == 1 and report.errors == []
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        obj = session.exec(select(DataObject).where(DataObject.index == 0)).one()
        assert obj.status == ObjectStatus.PUBLISHED
    first, second = _hits_of(engine, 0)
    assert (first.attempt, second.attempt) == (0, 1)
    assert first.token == request_token(job, 0, 0)
    assert second.token == request_token(job, 0, 1)
    assert second.status == HitStatus.OPEN and second.max_assignments == 2
    assert second.assignment_cost_cents == hits.object_assignment_cost(job, 2)
    assert market.marketplace.hits[second.hit_id].max_assignments == 2
    assert len(_hits_of(engine, 1)) == 1  # the other object is left alone

    answer_open_hits(
        market,
        truthful(write_job(tmp_path / "same", "text-classification", 2).truth),
        ["AWORKERFOUR004", "AWORKERFIVE005"],
    )
    collect_tick(engine, settings)
    _ask_for_more(engine, 0, 1)
    assert publish_tick(engine, settings).hits_created == 1
    assert [(h.attempt, h.max_assignments) for h in _hits_of(engine, 0)] == [(0, 3), (1, 2), (2, 1)]
    assert publish_tick(engine, settings).hits_created == 0


def test_a_crash_creating_the_next_attempt_makes_no_duplicate(tmp_path, market, settings, engine, monkeypatch):
    _answered_job(tmp_path, market, settings, engine)
    before = len(market.marketplace.hits)
    _ask_for_more(engine, 1, 2)
    original = hits._record_created
    monkeypatch.setattr(hits, "_record_created", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("cut")))
    with pytest.raises(RuntimeError):
        publish_tick(engine, settings)
    monkeypatch.setattr(hits, "_record_created", original)
    assert len(market.marketplace.hits) == before + 1
    assert [(h.attempt, h.status) for h in _hits_of(engine, 1)][1:] == [(1, HitStatus.CREATING)]
    report = publish_tick(engine, settings)
    assert report.hits_recovered == 1 and report.hits_created == 0
    assert len(market.marketplace.hits) == before + 1
    assert [(h.attempt, h.status) for h in _hits_of(engine, 1)][1:] == [(1, HitStatus.OPEN)]


def test_a_verification_batch_sent_back_gets_the_next_attempt_of_its_objects(tmp_path, market, settings, engine):
    from tests.engine.verification_jobs import write_verification_job

    files = write_verification_job(tmp_path / "job", {"cat": 3})
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    with transaction(engine) as session:
        job = session.exec(select(Job)).one()
        ids = [o.id for o in session.exec(select(DataObject).where(DataObject.index > 0))]
        advance(session, ids, ObjectStatus.FAILED, job_id=job.id)
        advance(session, ids, ObjectStatus.PENDING, job_id=job.id, values={"max_assignments": 2})
    assert publish_tick(engine, settings).hits_created == 1
    with Session(engine) as session:
        rows = session.exec(select(Hit).order_by(Hit.id)).all()
    assert [(h.attempt, h.max_assignments) for h in rows] == [(0, 3), (1, 2)]
    assert rows[0].token == request_token(job, "batch:0,1,2", 0)
    assert rows[1].token == request_token(job, "batch:1,2", 1)
    assert market.marketplace.hits[rows[1].hit_id].max_assignments == 2


def test_without_budget_for_more_answers_an_object_keeps_the_answers_it_has(tmp_path, market, settings, engine):
    from sqlalchemy import update

    from broker.store.jobs import job_money

    _answered_job(tmp_path, market, settings, engine)
    with transaction(engine) as session:
        job = session.exec(select(Job)).one()
        money = job_money(session, job.id)
        session.execute(update(Job).values(budget_cents=money.spent_cents + money.committed_cents + 5))
    _ask_for_more(engine, 0, 2)
    report = publish_tick(engine, settings)
    assert report.blocked_by_budget and report.hits_created == 0
    with Session(engine) as session:
        obj = session.exec(select(DataObject).where(DataObject.index == 0)).one()
    assert obj.status == ObjectStatus.ANSWERED and obj.failure_reason is None
    assert len(_hits_of(engine, 0)) == 1
