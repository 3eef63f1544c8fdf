"""Budget cap, max concurrent HITs, expiry and extension, cancel: the rules that protect money."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from broker.commands import cancel_job
from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus, ObjectStatus
from broker.output import REASON_BUDGET, REASON_EXPIRED, REASON_STOPPED
from broker.stages.collect import collect_tick
from broker.stages.publish import publish_tick
from broker.store.jobs import job_money
from broker.store.tables import DataObject, Hit, Job
from tests.engine.conftest import answer_open_hits, truthful, write_job

WORKERS = ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03"]


def _assignable(market) -> int:
    now = market.marketplace.clock.now()
    return sum(1 for h in market.marketplace.hits.values() if market.marketplace._hit_status(h, now) == "Assignable")


def _objects(engine) -> list[DataObject]:
    with Session(engine) as session:
        return list(session.exec(select(DataObject).order_by(DataObject.index)))


def test_budget_cap_holds_and_unaffordable_objects_fail_with_reason(tmp_path, market, settings, engine):
    from broker.stages.submit import submit_job

    # 5c reward + 1c fee = 6c per assignment, 18c per HIT of 3: $0.40 pays for two HITs only
    files = write_job(tmp_path / "job", "text-classification", 6, budget_usd="0.40")
    submit_job(files.spec_path, engine, settings)
    report = publish_tick(engine, settings)
    assert report.hits_created == 2 and report.blocked_by_budget
    assert len(market.marketplace.hits) == 2
    answer_open_hits(market, truthful(files.truth), WORKERS)
    for _ in range(3):
        run_cycle(engine, settings)
    assert len(market.marketplace.hits) == 2
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        money = job_money(session, job.id)
    assert money.spent_cents == 36 and money.spent_cents + money.committed_cents <= 40
    assert job.status == JobStatus.COMPLETED
    failed = [o for o in _objects(engine) if o.status == ObjectStatus.FAILED]
    assert len(failed) == 4 and all(o.failure_reason.startswith(REASON_BUDGET) for o in failed)
    manifest = files.output_dir / "test-job" / "manifests" / "failed.manifest"
    failed_lines = (files.output_dir / "test-job" / "manifests" / "output" / "failed.manifest").read_text().splitlines()
    assert len(failed_lines) == 4 and not manifest.exists()
    assert json.loads(failed_lines[0])["test-job-metadata"]["failure-reason"].startswith(REASON_BUDGET)


def test_never_more_than_max_concurrent_hits_open(tmp_path, market, settings, engine):
    from broker.stages.submit import submit_job

    files = write_job(tmp_path / "job", "image-classification", 5, max_concurrent_hits=2)
    submit_job(files.spec_path, engine, settings)
    for _ in range(6):
        publish_tick(engine, settings)
        assert _assignable(market) <= 2
        publish_tick(engine, settings)
        assert _assignable(market) <= 2
        answer_open_hits(market, truthful(files.truth), WORKERS)
        run_cycle(engine, settings)
    assert len(market.marketplace.hits) == 5
    assert all(o.status == ObjectStatus.CONSOLIDATED for o in _objects(engine))


def test_expired_hit_is_extended_once_then_partial_answers_kept_and_empty_objects_fail(
    tmp_path, market, settings, engine
):
    from broker.stages.submit import submit_job

    files = write_job(tmp_path / "job", "text-classification", 2, lifetime_seconds=60)
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    first_source = json.loads(_objects(engine)[0].data_json)["source"]

    def only_first(block, worker):
        return files.truth[block["dataObject"]["source"]]

    # one worker answers object 0 only
    marketplace = market.marketplace
    marketplace.register_worker(WORKERS[0])
    with Session(engine) as session:
        hit0 = session.exec(
            select(Hit).join(DataObject, Hit.object_id == DataObject.id).where(DataObject.index == 0)
        ).one()
    from tests.engine.conftest import task_answers_xml

    assignment = marketplace.accept_hit(hit0.hit_id, WORKERS[0])
    marketplace.submit_assignment(
        assignment, WORKERS[0], task_answers_xml([{"crowd-classifier": {"label": files.truth[first_source]}}])
    )
    marketplace.clock.advance(61)
    report = collect_tick(engine, settings)
    assert report.hits_extended == 2 and report.assignments_stored == 1
    assert _assignable(market) == 2  # both HITs open again, same HITIds
    marketplace.clock.advance(4000)
    for _ in range(2):
        run_cycle(engine, settings)
    objects = _objects(engine)
    assert objects[0].status == ObjectStatus.CONSOLIDATED and objects[0].n_answers == 1
    assert objects[1].status == ObjectStatus.FAILED
    assert objects[1].failure_reason.startswith(REASON_EXPIRED) and "1 extension" in objects[1].failure_reason
    assert len(marketplace.hits) == 2  # extended, never re-created
    with Session(engine) as session:
        assert session.exec(select(Job)).one().status == JobStatus.COMPLETED


def test_cancel_expires_open_hits_and_keeps_answers(tmp_path, market, settings, engine):
    from broker.stages.submit import submit_job

    files = write_job(tmp_path / "job", "text-classification", 4, max_concurrent_hits=3)
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    answer_open_hits(market, truthful(files.truth), WORKERS[:1], limit=2)
    with Session(engine) as session:
        job_id = session.exec(select(Job)).one().id
    result = cancel_job(engine, settings, job_id)
    assert result == {"hits_expired": 3, "assignments_kept": 2, "objects_stopped": 2}
    assert _assignable(market) == 0
    for _ in range(2):
        run_cycle(engine, settings)
    objects = _objects(engine)
    assert [o.status for o in objects].count(ObjectStatus.CONSOLIDATED) == 2
    stopped = [o for o in objects if o.status == ObjectStatus.FAILED]
    assert len(stopped) == 2 and {o.failure_reason for o in stopped} == {REASON_STOPPED}
    assert {a.status for a in market.marketplace.assignments.values()} == {"Approved"}
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
    assert job.status == JobStatus.CANCELLED and job.completed_at is not None
