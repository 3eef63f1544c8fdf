"""Collection driven by MTurk's SQS notifications (moto's server), with a fallback poll.

The marketplace sends its event documents to the queue the spec names; collect fetches only the
HITs the events name and deletes the messages once the answers are stored. A lost message is
made up for by the fallback poll; a redelivered one does nothing. Calls are counted where the
marketplace receives them.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.domain.clock import utcnow
from broker.domain.lifecycle import HitStatus, JobStatus
from broker.stages.collect import collect_tick
from broker.stages.publish import publish_tick
from broker.stages.submit import submit_job
from broker.store.streams import EVENT
from broker.store.tables import Assignment, Hit, Job, QueueMark
from tests.engine.conftest import (
    WORKERS_DEFAULT,
    OperationCounter,
    answer_open_hits,
    drain,
    new_queue,
    truthful,
    write_job,
)

FALLBACK = 600


def _submit(tmp_path, engine, settings, queue_url, n_objects=4, **overrides):
    notifications = {"queue": queue_url, "events": ["HITReviewable"], "fallback_seconds": FALLBACK}
    files = write_job(tmp_path / "job", "text-classification", n_objects, notifications=notifications, **overrides)
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    return files


def _stored(engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(Assignment)).all())


def test_publish_sets_the_hit_types_notification_and_collect_reads_only_the_named_hits(
    tmp_path, market, settings, engine, sqs
):
    queue_url = new_queue(sqs, "events")
    files = _submit(tmp_path, engine, settings, queue_url)
    (hit_type,) = [t for t in market.marketplace.hit_types.values() if t.notification]
    assert hit_type.notification == {
        "Destination": queue_url,
        "Transport": "SQS",
        "Version": "2014-08-15",
        "EventTypes": ["HITReviewable"],
    }
    assert hit_type.notification_active
    counter = OperationCounter(market.marketplace)
    t0 = utcnow()
    assert collect_tick(engine, settings, now=t0).fallback_polls == 1  # first tick: nothing polled before

    # two HITs answered; their HITReviewable events arrive
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT, limit=2)
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT[1:], limit=2)
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT[2:], limit=2)
    market.notifier.flush()
    before = dict(counter.calls)
    report = collect_tick(engine, settings, now=t0 + timedelta(seconds=30))
    assert report.errors == [] and report.fallback_polls == 0
    assert report.events_received == 2 and report.assignments_stored == 6
    tick_calls = {op: n - before.get(op, 0) for op, n in counter.calls.items() if n != before.get(op, 0)}
    assert tick_calls.get("ListReviewableHITs", 0) == 0 and tick_calls["ListAssignmentsForHIT"] == 2
    assert drain(sqs, queue_url) == []  # handled messages are deleted
    with Session(engine) as session:
        statuses = sorted(h.status for h in session.exec(select(Hit)))
    assert statuses.count(HitStatus.OPEN) == 2 and len(statuses) == 4


def test_notifications_make_fewer_listing_calls_than_polling_for_the_same_answers(
    tmp_path, market, settings, engine, sqs
):
    """The same 4 HITs per job answered two by two between 5 collect ticks, by polling and by notifications."""
    queue_url = new_queue(sqs, "compare")
    polled = write_job(tmp_path / "polled", "text-classification", 4, name="polled")
    submit_job(polled.spec_path, engine, settings)
    # another title: jobs with equal HIT type parameters share one HIT type (MTurk returns the same id)
    notified = _submit(tmp_path, engine, settings, queue_url, name="notified", title="Pick the label, notified")
    publish_tick(engine, settings)
    with Session(engine) as session:
        job_of_type = {job.hit_type_id: job.name for job in session.exec(select(Job))}
        job_names = {job.id: job.name for job in session.exec(select(Job))}
    marketplace = market.marketplace
    calls: dict[str, Counter] = {"polled": Counter(), "notified": Counter()}
    original = marketplace.dispatch

    def counted(operation, params):  # each call charged to the job whose HIT type or HIT it names
        hit = marketplace.hits.get(params.get("HITId", ""))
        job = job_of_type.get(params.get("HITTypeId") or (hit.hit_type_id if hit else None))
        if job:
            calls[job][operation] += 1
        return original(operation, params)

    marketplace.dispatch = counted
    truth = {**polled.truth, **notified.truth}
    t0 = utcnow()
    for tick in range(5):
        if tick:  # 2 more HITs of the 8 answered by all three workers
            for worker in WORKERS_DEFAULT:
                answer_open_hits(market, truthful(truth), [worker], limit=2)
            market.notifier.flush()
        collect_tick(engine, settings, now=t0 + timedelta(seconds=30 * tick))
    with Session(engine) as session:
        stored = Counter(job_names[a.job_id] for a in session.exec(select(Assignment)))
    assert stored == {"polled": 12, "notified": 12}
    # every HIT's assignments are listed once either way; what notifications save is the listings
    assert calls["polled"]["ListAssignmentsForHIT"] == calls["notified"]["ListAssignmentsForHIT"] == 4
    assert calls["polled"]["ListReviewableHITs"] >= 5  # at least one listing per tick
    assert calls["notified"]["ListReviewableHITs"] == 1  # the first tick's fallback poll only


def test_a_lost_message_is_made_up_for_by_the_fallback_poll(tmp_path, market, settings, engine, sqs):
    queue_url = new_queue(sqs, "lost")
    files = _submit(tmp_path, engine, settings, queue_url, n_objects=2)
    t0 = utcnow()
    collect_tick(engine, settings, now=t0)
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT)
    market.notifier.flush()
    lost = drain(sqs, queue_url)  # the messages vanish before the broker reads them
    assert len(lost) == 2 and {json.loads(b)["Events"][0]["EventType"] for b in lost} == {"HITReviewable"}

    soon = collect_tick(engine, settings, now=t0 + timedelta(seconds=30))
    assert soon.assignments_stored == 0 and soon.fallback_polls == 0  # nothing told it; no poll due yet
    late = collect_tick(engine, settings, now=t0 + timedelta(seconds=FALLBACK + 1))
    assert late.fallback_polls == 1 and late.assignments_stored == 6
    with Session(engine) as session:
        assert {h.status for h in session.exec(select(Hit))} <= {HitStatus.COLLECTED, HitStatus.DONE}


def test_a_redelivered_message_changes_nothing(tmp_path, market, settings, engine, sqs):
    """Even for a HIT that was extended after its first HITReviewable: no second extension."""
    queue_url = new_queue(sqs, "dup")
    _submit(tmp_path, engine, settings, queue_url, n_objects=1, lifetime_seconds=600)
    marketplace = market.marketplace
    t0 = utcnow()
    collect_tick(engine, settings, now=t0)
    assert answer_open_hits(market, lambda block, worker: "positive", WORKERS_DEFAULT[:1]) == 1
    marketplace.clock.advance(601)  # expires with 1 of 3 answers: Reviewable
    counter = OperationCounter(marketplace)
    marketplace.dispatch("ListHITs", {})  # any call runs the marketplace's due expiries
    market.notifier.flush()
    bodies = drain(sqs, queue_url)
    assert len(bodies) == 1
    for body in bodies * 2:  # delivered twice, as SQS may do
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    first = collect_tick(engine, settings, now=t0 + timedelta(seconds=30))
    assert first.assignments_stored == 1 and first.hits_extended == 1
    calls = dict(counter.calls)
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    again = collect_tick(engine, settings, now=t0 + timedelta(seconds=60))
    assert again.assignments_stored == 0 and again.hits_extended == 0 and again.events_received == 0
    assert dict(counter.calls) == calls  # not one marketplace call for the redelivered documents
    assert counter.calls["UpdateExpirationForHIT"] == 1
    assert drain(sqs, queue_url) == []
    with Session(engine) as session:
        (hit,) = session.exec(select(Hit)).all()
        assert hit.status == HitStatus.OPEN and hit.extensions == 1
        assert len(session.exec(select(Assignment)).all()) == 1


def test_event_marks_are_forgotten_once_sqs_can_no_longer_redeliver_them(tmp_path, market, settings, engine, sqs):
    """Each handled EventDocId leaves a mark; after SQS's longest retention (14 days) the fallback poll drops it."""
    queue_url = new_queue(sqs, "prune")
    files = _submit(tmp_path, engine, settings, queue_url, n_objects=2)
    t0 = utcnow()
    collect_tick(engine, settings, now=t0)
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT)
    market.notifier.flush()
    assert collect_tick(engine, settings, now=t0 + timedelta(seconds=30)).assignments_stored == 6

    def event_marks() -> int:
        with Session(engine) as session:
            return len(session.exec(select(QueueMark).where(QueueMark.kind == EVENT)).all())

    assert event_marks() == 2  # one HITReviewable document per HIT
    collect_tick(engine, settings, now=t0 + timedelta(days=13))  # a fallback poll, within retention
    assert event_marks() == 2
    collect_tick(engine, settings, now=t0 + timedelta(days=15))
    assert event_marks() == 0


def test_a_completed_job_keeps_no_event_marks(tmp_path, market, settings, engine, sqs):
    queue_url = new_queue(sqs, "done")
    files = _submit(tmp_path, engine, settings, queue_url, n_objects=2)
    answer_open_hits(market, truthful(files.truth), WORKERS_DEFAULT)
    market.notifier.flush()
    assert collect_tick(engine, settings, now=utcnow() + timedelta(seconds=30)).assignments_stored == 6
    with Session(engine) as session:
        assert len(session.exec(select(QueueMark).where(QueueMark.kind == EVENT)).all()) == 2
    for _ in range(3):
        run_cycle(engine, settings)
    with Session(engine) as session:
        assert session.exec(select(Job)).one().status == JobStatus.COMPLETED
        assert session.exec(select(QueueMark).where(QueueMark.kind == EVENT)).all() == []
