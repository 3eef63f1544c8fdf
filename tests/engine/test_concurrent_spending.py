"""Daemons publishing one job at the same moment never spend past its budget (SQLite and
PostgreSQL): the budget read and the HIT inserts happen under the job's lock (store.jobs.lock_job)."""

from __future__ import annotations

import threading

from sqlmodel import Session, select

from broker.domain.money import hit_cost_cents
from broker.stages.publish import publish_tick
from broker.stages.submit import submit_job
from broker.store import get_engine
from broker.store.jobs import job_money
from broker.store.tables import Hit, Job
from tests.engine.conftest import write_job

REWARD_CENTS = 5
AFFORDABLE = 7  # objects the budget pays for, of 20


def test_three_publishers_at_once_stay_within_the_budget(tmp_path, market, settings, engine) -> None:
    per_object = hit_cost_cents(REWARD_CENTS, 3)
    files = write_job(tmp_path / "job", "text-classification", 20, budget_cents=AFFORDABLE * per_object + 1)
    submit_job(files.spec_path, engine, settings)

    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def daemon() -> None:
        try:
            start.wait()
            publish_tick(get_engine(settings.db_url), settings)
        except BaseException as error:  # a failed tick is a failed test
            errors.append(error)

    threads = [threading.Thread(target=daemon) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        hits = session.exec(select(Hit)).all()
        money = job_money(session, job.id)
    assert len(hits) == AFFORDABLE
    assert len({hit.object_id for hit in hits}) == AFFORDABLE  # no object got two HITs
    assert money.spent_cents + money.committed_cents <= job.budget_cents
