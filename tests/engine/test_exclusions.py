"""Worker exclusions are rows: consolidation leaves the excluded workers' answers out, and an object
that lost answers is put back to pending once for them (publish makes its next HIT)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from broker.domain.lifecycle import HitStatus, ObjectStatus, ReviewStatus
from broker.store import dispose_engine, get_engine, reading, transaction
from broker.store.answers import answers_for_consolidation, answers_lost_to_exclusions, ask_again, fresh_answers_asked
from broker.store.tables import Assignment, DataObject, Event, Hit, Job
from broker.store.transitions import advance
from broker.store.workers import excluded_workers, record_exclusion

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _job_with_answers(engine) -> tuple[int, int]:
    with transaction(engine) as session:
        job = Job(
            name="j",
            task_type="text-classification",
            spec_json="{}",
            template_source="",
            labels_json="[]",
            output_uri="/tmp",
            reward_cents=5,
            workers_per_object=3,
            max_concurrent_hits=10,
            created_at=NOW,
        )
        session.add(job)
        session.flush()
        obj = DataObject(job_id=job.id, index=0, line_number=1, data_json="{}", status=ObjectStatus.PENDING)
        session.add(obj)
        session.flush()
        hit = Hit(
            job_id=job.id,
            object_id=obj.id,
            token="t0",
            status=HitStatus.CREATING,
            max_assignments=3,
            reward_cents=5,
            assignment_cost_cents=6,
            created_at=NOW,
        )
        session.add(hit)
        session.flush()
        for n, worker in enumerate(["W1", "W2", "SPAM"]):
            session.add(
                Assignment(
                    assignment_id=f"A{n}",
                    hit_row_id=hit.id,
                    job_id=job.id,
                    object_id=obj.id,
                    worker_id=worker,
                    mturk_status="Submitted",
                    answer_xml="",
                    answer_json="[]",
                    chosen_json=json.dumps([n % 2]),
                    review_status=ReviewStatus.PENDING,
                    cost_cents=6,
                )
            )
        return job.id, obj.id


def test_exclusion_rows_drop_answers_and_repend_the_object_once(tmp_path):
    url = f"sqlite:///{tmp_path}/b.db"
    engine = get_engine(url)
    try:
        job_id, object_id = _job_with_answers(engine)
        with transaction(engine) as session:
            session.add(Event(job_id=job_id, at=NOW, kind="exclude", message="W1: block: text only (0.500)"))
        with reading(engine) as session:
            assert excluded_workers(session, job_id) == {}  # an event alone excludes nobody
            assert len(answers_for_consolidation(session, job_id)) == 3
        with transaction(engine) as session:
            record_exclusion(session, job_id, "SPAM", "qualification", "em accuracy 0.100 over 3 answers", 0.5)
            record_exclusion(session, job_id, "SPAM", "qualification", "again", 0.5)  # once per job and worker
        with reading(engine) as session:
            assert excluded_workers(session, job_id) == {"SPAM": "em accuracy 0.100 over 3 answers"}
            assert [w for _, w, _ in answers_for_consolidation(session, job_id)] == ["W1", "W2"]
            assert session.get(Job, job_id).answers_version == 1
            assert answers_lost_to_exclusions(session, job_id) == {object_id: 1}
            assert fresh_answers_asked(session, job_id, [object_id]) == {}
        with transaction(engine) as session:
            advance(session, [object_id], ObjectStatus.PUBLISHED)
            advance(session, [object_id], ObjectStatus.ANSWERED)
            ask_again(session, job_id, object_id, 1)
        with reading(engine) as session:
            obj = session.get(DataObject, object_id)
            assert (obj.status, obj.max_assignments) == (ObjectStatus.PENDING, 1)
            assert fresh_answers_asked(session, job_id, [object_id]) == {object_id: 1}  # not asked twice
    finally:
        dispose_engine(url)
