"""The whole loop against the embedded marketplace over HTTP: submit -> publish -> collect ->
review -> consolidate -> finalize, with answers submitted through the marketplace's worker side."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus, ObjectStatus, ReviewStatus
from broker.stages.submit import submit_job
from broker.store.tables import Assignment, DataObject, Hit, Job
from tests.engine.conftest import answer_open_hits, truthful, write_job

WORKERS = ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03"]


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "task_type",
    [
        "image-classification",
        "text-classification",
        "image-classification-multilabel",
        "text-classification-multilabel",
    ],
)
def test_whole_loop_labels_every_object_and_pays_each_assignment_once(tmp_path, market, settings, engine, task_type):
    files = write_job(tmp_path / "job", task_type, 6)
    submit_job(files.spec_path, engine, settings)

    cycle = run_cycle(engine, settings)
    assert cycle.errors == []
    with Session(engine) as session:
        hits = session.exec(select(Hit)).all()
    assert len(hits) == 6 and all(h.hit_id and h.status == "open" for h in hits)

    assert answer_open_hits(market, truthful(files.truth), WORKERS) == 18
    run_cycle(engine, settings)
    run_cycle(engine, settings)

    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        assignments = session.exec(select(Assignment)).all()
        objects = session.exec(select(DataObject).order_by(DataObject.index)).all()
    assert job.status == JobStatus.COMPLETED
    assert len(assignments) == 18 and {a.review_status for a in assignments} == {ReviewStatus.APPROVED}
    assert all(o.status == ObjectStatus.CONSOLIDATED for o in objects)
    # every assignment approved exactly once on the marketplace side too
    remote = market.marketplace.assignments
    assert sorted(a.status for a in remote.values()) == ["Approved"] * 18

    manifest = files.output_dir / "test-job" / "manifests" / "output" / "output.manifest"
    lines = _lines(manifest)
    assert len(lines) == 6
    for line in lines:
        key = line.get("source-ref") or line.get("source")
        meta = line["test-job-metadata"]
        assert meta["type"] == f"groundtruth/{task_type}"
        assert meta["job-name"] == "labeling-job/test-job"
        if task_type.endswith("multilabel"):
            assert [meta["class-map"][str(i)] for i in line["test-job"]] == files.truth[key]
        else:
            assert meta["class-name"] == files.truth[key]
            assert files.labels[line["test-job"]] == files.truth[key]
    responses = list((files.output_dir / "test-job" / "annotations" / "worker-response").rglob("*.json"))
    assert len(responses) == 6
    answers = json.loads(responses[0].read_text())["answers"]
    assert len(answers) == 3 and {"acceptanceTime", "answerContent", "submissionTime", "workerId"} <= set(answers[0])
