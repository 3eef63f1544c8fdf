"""Row claims inside one job: daemons share a job's publish and review. A batch of HIT rows being
created, or of assignments being decided, is locked (FOR UPDATE SKIP LOCKED) by the daemon doing
it; another daemon skips those rows and takes the rest. On SQLite a claim is every row."""

from __future__ import annotations

import threading

from sqlmodel import Session, select

from broker.stages.collect import collect_tick
from broker.stages.publish import publish_tick
from broker.stages.review import review_tick
from broker.stages.submit import submit_job
from broker.store import get_engine, transaction
from broker.store.claims import claim_creating_hits, holding_lease, renew_lease, take_lease
from broker.store.tables import Assignment, Hit, Job, StageLease
from tests.engine.conftest import WORKERS_DEFAULT, answer_open_hits, truthful, write_job


def _creating_rows(engine, settings, tmp_path, n: int) -> list[int]:
    """A submitted job whose first `n` HIT rows are committed in "creating" (CreateHIT not called yet)."""
    from broker.domain.tokens import request_token
    from broker.store.hits import add_creating_hit, pending_objects

    submit_job(write_job(tmp_path / "job", "text-classification", n).spec_path, engine, settings)
    with transaction(engine) as session:
        job = session.exec(select(Job)).one()
        rows = []
        for obj in pending_objects(session, job.id, n):
            hit = add_creating_hit(
                session,
                job.id,
                [obj],
                attempt=0,
                token=request_token(job, obj.index, 0),
                max_assignments=3,
                reward_cents=job.reward_cents,
                assignment_cost_cents=6,
                link=False,
            )
            rows.append(hit)
        session.flush()
        return [int(hit.id) for hit in rows]


def test_a_batch_another_daemon_holds_is_skipped(tmp_path, market, settings, engine) -> None:
    ids = _creating_rows(engine, settings, tmp_path, 6)
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def first_daemon() -> None:  # claims the first three rows and holds them, as during its CreateHIT calls
        with transaction(engine) as session:
            assert claim_creating_hits(session, ids[:3]) == set(ids[:3])
            held.set()
            release.wait(30)
        done.set()

    thread = threading.Thread(target=first_daemon)
    thread.start()
    try:
        assert held.wait(30)
        with transaction(get_engine(settings.db_url)) as session:
            second = claim_creating_hits(session, ids)
    finally:
        release.set()
        thread.join(30)
    if engine.dialect.name == "postgresql":
        assert second == set(ids[3:])  # the held rows are skipped, not waited for
    else:
        assert second == set(ids)  # one writer at a time: SQLite's claim is every row still "creating"
    with transaction(engine) as session:  # once released, the rows are anyone's again
        assert claim_creating_hits(session, ids) == set(ids)


def test_daemons_publishing_and_reviewing_one_job_together_make_each_call_once(
    tmp_path, market, settings, engine
) -> None:
    """Three publish ticks, then (PostgreSQL) three review ticks, at once on one job: one HIT per object on the
    marketplace, and every assignment approved exactly once (a second approval would come back as
    MTurk's error and be settled, which the reports would show)."""
    files = write_job(tmp_path / "job", "text-classification", 30)
    submit_job(files.spec_path, engine, settings)

    def together(tick) -> list:
        start, reports, errors = threading.Barrier(3), [], []

        def run() -> None:
            try:
                start.wait()
                reports.append(tick(get_engine(settings.db_url), settings))
            except BaseException as error:  # a failed tick is a failed test
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        return reports

    published = together(publish_tick)
    if engine.dialect.name == "postgresql":  # each row created by one daemon: 30 CreateHIT calls in all
        assert sum(r.hits_created + r.hits_recovered for r in published) == 30
    # SQLite (one daemon thread in production) may repeat a row's call: its token gives the same HIT
    assert len(market.marketplace.hits) == 30  # on the marketplace: one HIT per object
    assert answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT) == 90
    collect_tick(engine, settings)
    # SQLite has no row locks: its daemon reviews on one thread, so one review tick there
    reviewed = together(review_tick) if engine.dialect.name == "postgresql" else [review_tick(engine, settings)]
    assert sum(r.approved for r in reviewed) == 90
    assert all(r.errors == [] and r.settled == 0 for r in reviewed)
    with Session(engine) as session:
        hits = session.exec(select(Hit)).all()
        approved = session.exec(select(Assignment).where(Assignment.review_status == "approved")).all()
    assert len(hits) == 30 and len({hit.object_id for hit in hits}) == 30
    assert len(approved) == 90


def test_a_long_stage_renews_its_lease_between_batches(engine, settings, tmp_path) -> None:
    submit_job(write_job(tmp_path / "job", "text-classification", 2).spec_path, engine, settings)
    with Session(engine) as session:
        job_id = int(session.exec(select(Job)).one().id)
    assert renew_lease()  # no lease held: nothing to keep
    assert take_lease(engine, job_id, "collect", seconds=10)
    with Session(engine) as session:
        before = session.get(StageLease, (job_id, "collect")).expires_at
    with holding_lease(engine, job_id, "collect"):
        assert renew_lease()  # 10 s left, less than half of the 300 s lease: renewed
    with Session(engine) as session:
        after = session.get(StageLease, (job_id, "collect")).expires_at
    assert (after - before).total_seconds() > 200
