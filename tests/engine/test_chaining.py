"""Job chaining: an earlier job's output manifest as input. Same label attribute: only the
unlabeled objects are posted and labeled lines are copied unchanged; new attribute: a new
annotation on every object."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus, ObjectStatus
from broker.estimate import count_manifest_objects
from broker.reports.status import job_status
from broker.spec import load_job_spec
from broker.stages.submit import submit_job
from broker.store.tables import DataObject, Hit, Job
from tests.engine.conftest import answer_open_hits, truthful, write_job

WORKERS = ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03"]


def _earlier_output(files, labeled: dict[int, int], failed: set[int]) -> list[dict]:
    """Rewrite the job's input as an earlier job's output: some lines labeled, some failed."""
    lines = [json.loads(text) for text in files.manifest_path.read_text().splitlines()]
    for i, label in labeled.items():
        lines[i]["test-job"] = label
        lines[i]["test-job-metadata"] = {
            "class-name": "earlier",
            "confidence": 0.91,
            "human-annotated": "yes",
            "type": "groundtruth/text-classification",
            "job-name": "labeling-job/earlier",
            "creation-date": "2026-01-01T00:00:00.000",
        }
    for i in failed:
        lines[i]["test-job-metadata"] = {
            "failure-reason": "ClientError: no answers before the HIT expired",
            "job-name": "labeling-job/earlier",
        }
    files.manifest_path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines


def _run(market, settings, engine, files) -> list[dict]:
    submit_job(files.spec_path, engine, settings)
    for _ in range(3):
        run_cycle(engine, settings)
        answer_open_hits(market, truthful(files.truth), WORKERS)
    run_cycle(engine, settings)
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        assert job.status == JobStatus.COMPLETED
    manifest = files.output_dir / job.name / "manifests" / "output" / "output.manifest"
    return [json.loads(text) for text in manifest.read_text().splitlines()]


def test_same_attribute_posts_only_unlabeled_objects_and_copies_the_rest(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 5)
    earlier = _earlier_output(files, labeled={0: 1, 2: 0}, failed={3})
    spec = load_job_spec(files.spec_path, settings=settings)
    assert count_manifest_objects(spec, settings) == 3  # the estimate prices only what is posted

    out = _run(market, settings, engine, files)

    with Session(engine) as session:
        posted = {o.index for o in session.exec(select(DataObject).join(Hit, Hit.object_id == DataObject.id))}
        statuses = {o.index: o.status for o in session.exec(select(DataObject))}
        report = job_status(session, session.exec(select(Job)).one())
    assert posted == {1, 3, 4}  # the failed line is posted again
    assert statuses[0] == statuses[2] == ObjectStatus.CARRIED
    assert report.carried == 2 and report.consolidated == 3 and report.spent_cents == 3 * 3 * 6
    assert out[0] == earlier[0] and out[2] == earlier[2]  # verbatim, the earlier job's metadata kept
    for i in (1, 3, 4):
        key = out[i]["source"]
        assert out[i]["test-job-metadata"]["job-name"] == "labeling-job/test-job"
        assert out[i]["test-job-metadata"]["class-name"] == files.truth[key]
        assert "failure-reason" not in out[i]["test-job-metadata"]


def test_new_attribute_adds_an_annotation_to_every_object(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 4, name="second-pass")
    earlier = _earlier_output(files, labeled={0: 1, 1: 0, 2: 1, 3: 0}, failed=set())

    out = _run(market, settings, engine, files)

    with Session(engine) as session:
        assert len(session.exec(select(Hit)).all()) == 4
    for before, after in zip(earlier, out):
        assert after["test-job"] == before["test-job"] and after["test-job-metadata"] == before["test-job-metadata"]
        assert after["second-pass-metadata"]["class-name"] == files.truth[after["source"]]
