"""A small fixed job written straight into a broker DB, with every figure computable by hand.

Job "fixed-job": labels cat/dog, 4 objects (object 3 is gold: dog), 3 workers, reward 10 cents
(fee 2 cents). Truth = consolidated = cat, dog, cat, dog.

    worker        obj0  obj1        obj2  obj3(gold)  work seconds       review
    AGOODWORKER1  cat   dog         cat   dog         30, 40, 50, 60     all approved
    AGOODWORKER2  cat   dog         cat   dog         10, 20, 30, 40     all approved; bonus 25c (+5c fee)
    ASPAMMER0003  dog   dog (rej.)  dog   cat         5, 5, 5, 5         obj1 rejected; excluded by a rule

AGOODWORKER1's obj3 is worked on 2026-11-21 at 09:00; everything else on 2026-11-20 from 10:00.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker import mturk
from broker.domain.lifecycle import HitStatus, ObjectStatus, ReviewStatus
from broker.store import dispose_engine, get_engine, transaction
from broker.store.tables import Assignment, Bonus, DataObject, Event, Hit, Job, WorkerExclusion

BASE = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LABELS = ["cat", "dog"]
TRUTH = [0, 1, 0, 1]
CONFIDENCE = [0.9, 0.95, 0.9, 0.8]
WORKERS = ["AGOODWORKER1", "AGOODWORKER2", "ASPAMMER0003"]
ANSWERS = {"AGOODWORKER1": [0, 1, 0, 1], "AGOODWORKER2": [0, 1, 0, 1], "ASPAMMER0003": [1, 1, 1, 0]}
SECONDS = {"AGOODWORKER1": [30, 40, 50, 60], "AGOODWORKER2": [10, 20, 30, 40], "ASPAMMER0003": [5, 5, 5, 5]}
REJECTED = {("ASPAMMER0003", 1)}
LATE = ("AGOODWORKER1", 3)
LATE_ACCEPT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@dataclass
class FixedJob:
    db_url: str
    engine: object
    job_id: int
    name: str = "fixed-job"


def accept_time(worker: str, obj: int) -> datetime:
    if (worker, obj) == LATE:
        return LATE_ACCEPT
    return BASE + timedelta(seconds=600 * obj + 60 * WORKERS.index(worker))


def build_fixed_job(db_url: str) -> int:
    engine = get_engine(db_url)
    spec = {"job_name": "fixed-job", "quality": {"gold": {"label_attribute": "gold-label"}}}
    with transaction(engine) as session:
        job = Job(
            name="fixed-job",
            task_type="image-classification",
            spec_json=json.dumps(spec),
            template_source="",
            labels_json=json.dumps(LABELS),
            output_uri="/tmp/none",
            reward_cents=10,
            workers_per_object=3,
            max_concurrent_hits=10,
            n_objects=4,
            created_at=BASE,
        )
        session.add(job)
        session.flush()
        for index in range(4):
            data = {"source-ref": f"/images/{index}.png"}
            if index == 3:
                data["gold-label"] = "dog"
            obj = DataObject(
                job_id=job.id,
                index=index,
                line_number=index + 1,
                data_json=json.dumps(data),
                status=ObjectStatus.CONSOLIDATED,
                label_json=json.dumps(TRUTH[index]),
                confidence_json=json.dumps(CONFIDENCE[index]),
                n_answers=3,
                consolidated_at=BASE + timedelta(hours=index + 1),
            )
            session.add(obj)
            session.flush()
            hit = Hit(
                job_id=job.id,
                object_id=obj.id,
                token=f"tok-{index}",
                hit_id=f"HIT{index}",
                status=HitStatus.DONE,
                max_assignments=3,
                reward_cents=10,
                assignment_cost_cents=12,
                created_at=BASE,
            )
            session.add(hit)
            session.flush()
            for worker in WORKERS:
                start = accept_time(worker, index)
                rejected = (worker, index) in REJECTED
                session.add(
                    Assignment(
                        assignment_id=f"A-{worker}-{index}",
                        hit_row_id=hit.id,
                        job_id=job.id,
                        object_id=obj.id,
                        worker_id=worker,
                        mturk_status="Rejected" if rejected else "Approved",
                        accept_time=start,
                        submit_time=start + timedelta(seconds=SECONDS[worker][index]),
                        answer_xml="<x/>",
                        answer_json="[]",
                        chosen_json=json.dumps([ANSWERS[worker][index]]),
                        review_status=ReviewStatus.REJECTED if rejected else ReviewStatus.APPROVED,
                        cost_cents=12,
                    )
                )
        session.add(
            Bonus(
                token="bonus-1",
                worker_id="AGOODWORKER2",
                assignment_id="A-AGOODWORKER2-0",
                job_id=job.id,
                amount_cents=25,
                fee_cents=5,
                reason="top worker",
                sent=True,
                created_at=BASE + timedelta(days=1),
            )
        )
        session.add(
            Event(
                job_id=job.id,
                at=BASE + timedelta(hours=5),
                kind="exclude",
                message="ASPAMMER0003: qualification: gold accuracy 0.00 over 4 answers is below the threshold",
            )
        )
        session.add(
            WorkerExclusion(
                job_id=job.id,
                worker_id="ASPAMMER0003",
                action="qualification",
                reason="gold accuracy 0.00 over 4 answers is below the threshold",
                at=BASE + timedelta(hours=5),
            )
        )
        return job.id


@pytest.fixture()
def fixed_job(tmp_path: Path):
    db_url = f"sqlite:///{tmp_path}/broker.db"
    job_id = build_fixed_job(db_url)
    yield FixedJob(db_url=db_url, engine=get_engine(db_url), job_id=job_id)
    dispose_engine(db_url)


@pytest.fixture()
def settings_file(tmp_path: Path, fixed_job: FixedJob) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(f"db_url: {fixed_job.db_url}\n", encoding="utf-8")
    return path


@pytest.fixture()
def market(tmp_path: Path):
    from broker.marketplace.config import MarketplaceConfig
    from broker.marketplace.server import start_in_thread

    running = start_in_thread(MarketplaceConfig(db_path=":memory:", file_roots=[str(tmp_path)]))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture()
def settings(tmp_path: Path, market):
    from broker.settings import load_settings

    mturk.forget_clients()
    yield load_settings(db_url=f"sqlite:///{tmp_path}/broker.db", local_endpoint_url=market.endpoint_url)
    dispose_engine(f"sqlite:///{tmp_path}/broker.db")
    mturk.forget_clients()


def answer_xml(answer: list[dict]) -> str:
    """QuestionFormAnswers with one taskAnswers field, as the worker site stores a crowd-form post."""
    from xml.sax.saxutils import escape

    return (
        '<?xml version="1.0" encoding="UTF-8"?><QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/'
        'AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"><Answer>'
        f"<QuestionIdentifier>taskAnswers</QuestionIdentifier><FreeText>{escape(json.dumps(answer))}</FreeText>"
        "</Answer></QuestionFormAnswers>"
    )


def work_on_hit(market, hit_id: str, worker: str, choose, work_seconds: float = 0.0) -> dict:
    """A worker previews, accepts and submits one HIT through the marketplace's worker-facing
    methods (what its worker site calls); `choose(data_object, worker)` gives the label.
    The marketplace clock is advanced by `work_seconds` between accept and submit."""
    import html as html_lib
    import re

    marketplace = market.marketplace
    page = marketplace.preview_hit(hit_id, worker).html_content
    block = re.search(r'<script type="application/json" id="crowd-task-input">(.*?)</script>', page, re.S)
    data = json.loads(html_lib.unescape(block.group(1)))
    assignment = marketplace.accept_hit(hit_id, worker)
    if work_seconds:
        marketplace.clock.advance(work_seconds)
    answer = [{data.get("name") or data.get("element"): {"label": choose(data["dataObject"], worker)}}]
    marketplace.submit_assignment(assignment, worker, answer_xml(answer))
    return {"page": page, "data": data}


@pytest.fixture()
def hit_worker():
    return work_on_hit


def accept_hit(market, hit_id: str, worker: str) -> tuple[str, dict]:
    """Preview and accept: (AssignmentId, the crowd-task-input block the page carries)."""
    import html as html_lib
    import re

    page = market.marketplace.preview_hit(hit_id, worker).html_content
    block = re.search(r'<script type="application/json" id="crowd-task-input">(.*?)</script>', page, re.S)
    return market.marketplace.accept_hit(hit_id, worker), json.loads(html_lib.unescape(block.group(1)))


def submit_hit(market, assignment_id: str, worker: str, data: dict, label: str) -> None:
    answer = [{data.get("name") or data.get("element"): {"label": label}}]
    market.marketplace.submit_assignment(assignment_id, worker, answer_xml(answer))


@pytest.fixture()
def hit_steps():
    from types import SimpleNamespace

    return SimpleNamespace(accept=accept_hit, submit=submit_hit)
