"""Label verification end to end over HTTP: batches of objects sharing a label, one HIT each,
the simulated crowd unchecking wrong labels, and Ground Truth's label-verification output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlmodel import Session, func, select

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus, ObjectStatus
from broker.reports.status import job_status
from broker.spec import SpecError, SubmitError, load_job_spec
from broker.stages.publish import publish_tick
from broker.stages.submit import submit_job
from broker.store.jobs import job_money
from broker.store.tables import Assignment, DataObject, Hit, HitObject, Job
from broker.validate import validate_job
from tests.engine.conftest import hit_data_object, task_answers_xml
from tests.engine.test_crash_safety import KILL_SCRIPT
from tests.engine.verification_jobs import answer_batches, write_verification_job

COUNTS = {"cat": 27, "dog": 18}  # batches of 10: cat 10, 10, 7; dog 10, 8
METADATA_KEYS = {"class-name", "confidence", "type", "job-name", "human-annotated", "creation-date"}


def _batches(engine) -> list[tuple[list[int], set[str]]]:
    """Per HIT (creation order): its objects' indices in page order and the labels they show."""
    with Session(engine) as session:
        rows = session.exec(
            select(HitObject.hit_row_id, DataObject.index, DataObject.data_json)
            .join(DataObject, HitObject.object_id == DataObject.id)
            .order_by(HitObject.hit_row_id, HitObject.position)
        ).all()
    found: dict[int, tuple[list[int], set[str]]] = {}
    for hit_row_id, index, data_json in rows:
        indices, labels = found.setdefault(hit_row_id, ([], set()))
        indices.append(index)
        labels.add(json.loads(data_json)["category-metadata"]["class-name"])
    return list(found.values())


def test_one_hit_per_batch_of_one_label_last_batch_smaller(tmp_path, market, settings, engine):
    files = write_verification_job(tmp_path / "job", COUNTS)
    submit_job(files.spec_path, engine, settings)
    assert run_cycle(engine, settings).errors == []

    batches = _batches(engine)
    assert sorted(len(indices) for indices, _ in batches) == [7, 8, 10, 10, 10]
    assert all(len(labels) == 1 for _, labels in batches)
    shown = [line["category-metadata"]["class-name"] for line in files.lines]
    for indices, labels in batches:
        assert indices == sorted(indices) and {shown[i] for i in indices} == labels
    assert sorted(i for indices, _ in batches for i in indices) == list(range(45))  # each object once
    with Session(engine) as session:
        hits = session.exec(select(Hit).order_by(Hit.id)).all()
        objects = session.exec(select(DataObject)).all()
        money = job_money(session, hits[0].job_id)
    assert len(hits) == 5 and len({h.token for h in hits}) == 5 and all(h.hit_id for h in hits)
    assert {o.status for o in objects} == {ObjectStatus.PUBLISHED}
    # budget: 5 HITs x 3 assignments x (10c + 2c fee) committed, not 45 objects' worth
    assert money.committed_cents == 5 * 3 * 12 and money.spent_cents == 0
    with Session(engine) as session:
        status = job_status(session, session.get(Job, hits[0].job_id))
    assert (status.published, status.hits_open, status.pending) == (45, 5, 0)
    # the page shows the batch, every item named by its datasetObjectId
    first_hit, (first_indices, first_labels) = hits[0], batches[0]
    block = hit_data_object(market.marketplace, first_hit.hit_id)
    assert block["element"] == "crowd-label-verification"
    assert [item["id"] for item in block["dataObjects"]] == [str(i) for i in first_indices]
    assert block["taskInput"]["label"] == first_labels.pop()


def test_batch_size_and_budget_limit_the_hits(tmp_path, market, settings, engine):
    files = write_verification_job(tmp_path / "job", {"cat": 9}, batch_size=4, budget_usd="1.00")
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    # a HIT of 3 assignments costs 36c: two fit in $1.00, the third batch waits for money
    assert [len(indices) for indices, _ in _batches(engine)] == [4, 4]
    with Session(engine) as session:
        pending = session.exec(
            select(func.count()).select_from(DataObject).where(DataObject.status == ObjectStatus.PENDING)
        ).one()
    assert pending == 1


def test_killed_mid_publish_restart_creates_no_duplicate_batch_hit(tmp_path, market, settings, engine):
    files = write_verification_job(tmp_path / "job", COUNTS)
    submit_job(files.spec_path, engine, settings)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    result = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, settings.db_url, market.endpoint_url, "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 9, result.stderr
    live = lambda: [h for h in market.marketplace.hits.values() if not h.disposed]  # noqa: E731
    assert len(live()) == 2
    before = _batches(engine)
    assert len(before) == 5  # every batch and its token committed before the calls

    report = publish_tick(engine, settings)
    assert report.hits_recovered == 5 and report.hits_created == 0
    assert len(live()) == 5  # 2 found again by their tokens + 3 created
    assert _batches(engine) == before  # the same batches, not re-cut
    with Session(engine) as session:
        rows = session.exec(select(Hit)).all()
    assert sorted(r.hit_id for r in rows) == sorted(h.id for h in live())
    assert publish_tick(engine, settings).hits_created == 0


def test_unusable_answer_is_kept_and_flagged(tmp_path, market, settings, engine):
    files = write_verification_job(tmp_path / "job", {"cat": 3}, workers_per_object=1)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    marketplace = market.marketplace
    with Session(engine) as session:
        hit = session.exec(select(Hit)).one()
    marketplace.register_worker("AHALFDONE00001")
    assignment_id = marketplace.accept_hit(hit.hit_id, "AHALFDONE00001")
    answer = [{"crowd-label-verification": {"label": "cat", "items": [{"id": "0", "correct": False}]}}]
    marketplace.submit_assignment(assignment_id, "AHALFDONE00001", task_answers_xml(answer))
    run_cycle(engine, settings)
    with Session(engine) as session:
        stored = session.exec(select(Assignment)).one()
    assert stored.chosen_json is None and "missing ['1', '2']" in stored.answer_error
    assert json.loads(stored.answer_json) == answer and "taskAnswers" in stored.answer_xml


def test_spec_and_manifest_errors_name_the_field_and_line(tmp_path, market, settings, engine):
    files = write_verification_job(tmp_path / "job", {"cat": 2}, verification=None)
    with pytest.raises(SpecError, match="verification"):
        load_job_spec(files.spec_path)
    files = write_verification_job(tmp_path / "job2", {"cat": 3}, labels=["yes", "no", "maybe"])
    with pytest.raises(SpecError, match="two verdict labels"):
        load_job_spec(files.spec_path)
    files = write_verification_job(tmp_path / "job4", {"cat": 2}, quality={"exclusion": {"min_answers": 5}})
    with pytest.raises(SpecError, match="quality.exclusion: not available for label-verification"):
        load_job_spec(files.spec_path)
    files = write_verification_job(tmp_path / "job3", {"cat": 3})
    lines = files.manifest_path.read_text().splitlines()
    broken = json.loads(lines[1])
    del broken["category"], broken["category-metadata"]
    lines[1] = json.dumps(broken)
    files.manifest_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SubmitError, match=r"model-output.manifest:2: category: missing"):
        submit_job(files.spec_path, engine, settings)
    with Session(engine) as session:
        assert session.exec(select(Job)).first() is None  # nothing half-submitted
    issue = validate_job(files.spec_path).issues[0]
    assert (issue.file, issue.line, issue.field) == (str(files.manifest_path), 2, "category")


def test_validate_prices_one_hit_per_batch(tmp_path):
    files = write_verification_job(tmp_path / "job", {"cat": 12, "dog": 5}, batch_size=5)
    report = validate_job(files.spec_path)
    assert report.issues == []
    assert report.max_cost_cents == (3 + 1) * 3 * 12  # cat 5+5+2, dog 5: 4 HITs x 3 x (10c + 2c)
    from broker.estimate import count_manifest_objects, estimate_spec
    from broker.spec import load_job_spec

    spec = load_job_spec(files.spec_path)
    assert (
        estimate_spec(spec, count_manifest_objects(spec)).total_cents == report.max_cost_cents
    )  # broker estimate agrees


def test_simulated_crowd_verifies_labels_and_output_has_ground_truths_layout(tmp_path, market, settings, engine):
    from typer.testing import CliRunner

    from broker.cli import app
    from broker.marketplace.crowd import run_crowd

    files = write_verification_job(tmp_path / "job", COUNTS)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    # three workers for three assignments per HIT: each does every HIT, so which bot picks up which
    # HIT (thread timing) cannot change the answers and the accuracy below is the same on every run
    stats = run_crowd(
        market.worker_site_url,
        n_workers=3,
        seed=5,
        truth=files.truth,
        mix="good=0.67,spammer=0.33",
        time_scale=200.0,
        idle_seconds=1.0,
        concurrency=3,
    )
    assert stats is not None
    for _ in range(3):
        run_cycle(engine, settings)
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        assignments = session.exec(select(Assignment)).all()
    assert job.status == JobStatus.COMPLETED
    assert len(assignments) == 15 and all(json.loads(a.chosen_json) for a in assignments)  # 5 HITs x 3

    manifest = files.output_dir / "verify-job" / "manifests" / "output" / "output.manifest"
    lines = [json.loads(text) for text in manifest.read_text().splitlines()]
    assert len(lines) == 45
    correct = 0
    for line, original, fits in zip(lines, files.lines, files.fits):
        assert set(line) == set(original) | {"verify-category", "verify-category-metadata"}
        assert {k: line[k] for k in original} == original  # the verified label is kept as it was
        value, metadata = line["verify-category"], line["verify-category-metadata"]
        assert value in ("0", "1") and set(metadata) == METADATA_KEYS
        assert metadata["class-name"] == ["good", "bad"][int(value)]
        assert metadata["type"] == "groundtruth/label-verification"
        assert metadata["job-name"] == "labeling-job/verify-job" and metadata["human-annotated"] == "yes"
        assert 0.5 <= metadata["confidence"] <= 1.0
        correct += (value == "0") == fits
    assert correct / len(lines) >= 0.9  # one worker in three spams; 1 in 4 labels is wrong

    result = CliRunner().invoke(
        app, ["report", "qa", "verify-job", "--json", "--fp-cost-ratio", "3"], env={"BROKER_DB_URL": settings.db_url}
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert sum(row["total"] for row in report["rows"]) == 45 and report["unbinned"] == 0
    assert {row["label"] for row in report["rows"]} == {"cat", "dog"}
    for row in report["rows"]:
        assert row["confirmed"] + row["disconfirmed"] + row["split"] == row["total"]
    assert [t["label"] for t in report["thresholds"]] == ["cat", "dog"]


def test_agreement_review_rejects_the_worker_whose_verdicts_disagree(tmp_path, market, settings, engine):
    files = write_verification_job(
        tmp_path / "job",
        {"cat": 8},
        batch_size=8,
        review_policy={
            "approve": "agreement",
            "min_agreement": 0.6,
            "min_answers_to_judge": 8,
            "reject_message": "Disagreed.",
        },
    )
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    fits = {str(i): f for i, f in enumerate(files.fits)}
    honest, contrary = ["AHONESTONE0001", "AHONESTTWO0002"], "ACONTRARY00003"
    assert (
        answer_batches(market, [*honest, contrary], lambda worker, item: fits[item["id"]] != (worker == contrary)) == 3
    )
    for _ in range(3):
        run_cycle(engine, settings)
    with Session(engine) as session:
        reviews = {a.worker_id: (a.review_status, a.review_message) for a in session.exec(select(Assignment))}
        labels = [json.loads(o.label_json) for o in session.exec(select(DataObject).order_by(DataObject.index))]
    assert labels == [0 if f else 1 for f in files.fits]  # the two honest workers carry the verdicts
    assert reviews == {
        honest[0]: ("approved", None),
        honest[1]: ("approved", None),
        contrary: ("rejected", "Disagreed."),
    }
