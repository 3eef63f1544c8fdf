"""`broker submit` refuses bad input with file/line/field and writes nothing; status/export/worker CLI."""

from __future__ import annotations

import csv
import io
import json

from sqlmodel import Session, select
from typer.testing import CliRunner

from broker.cli import app
from broker.daemon import run_cycle
from broker.store import get_engine
from broker.store.tables import Job
from tests.engine.conftest import answer_open_hits, truthful, write_job

runner = CliRunner()
WORKERS = ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03"]


def _env(settings) -> dict[str, str]:
    return {"BROKER_DB_URL": settings.db_url, "BROKER_LOCAL_ENDPOINT_URL": settings.local_endpoint_url}


def _jobs(settings) -> list[Job]:
    with Session(get_engine(settings.db_url)) as session:
        return list(session.exec(select(Job)))


def test_spec_error_names_file_line_and_field_and_submits_nothing(tmp_path, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 3, workers_per_object=12)
    lines = files.spec_path.read_text().splitlines()
    line_no = next(i for i, line in enumerate(lines, 1) if line.startswith("workers_per_object"))
    result = runner.invoke(app, ["submit", str(files.spec_path)], env=_env(settings))
    assert result.exit_code == 1
    assert f"{files.spec_path.name}:{line_no}: workers_per_object" in result.output.replace("\n", "")
    assert _jobs(settings) == []


def test_manifest_error_names_the_line_and_submits_nothing(tmp_path, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 3)
    text = files.manifest_path.read_text().splitlines()
    text.insert(2, '{"source": "ok", "broken": ')
    files.manifest_path.write_text("\n".join(text) + "\n")
    result = runner.invoke(app, ["submit", str(files.spec_path)], env=_env(settings))
    assert result.exit_code == 1
    assert "input.manifest" in result.output and ":3" in result.output.replace("\n", "")
    assert _jobs(settings) == []


def test_duplicate_job_name_is_refused(tmp_path, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 2)
    assert runner.invoke(app, ["submit", str(files.spec_path)], env=_env(settings)).exit_code == 0
    again = runner.invoke(app, ["submit", str(files.spec_path)], env=_env(settings))
    assert again.exit_code == 1 and "already exists" in again.output
    assert len(_jobs(settings)) == 1


def test_template_error_is_reported_at_submit(tmp_path, settings, engine):
    template = tmp_path / "bad.liquid"
    template.write_text("<p>{{ task.input.taskObject </p>\n")
    files = write_job(tmp_path / "job", "custom", 2, template=str(template))
    result = runner.invoke(app, ["submit", str(files.spec_path)], env=_env(settings))
    assert result.exit_code == 1 and "template" in result.output.lower()
    assert _jobs(settings) == []


def test_status_export_csv_and_worker_commands(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 3)
    env = _env(settings)
    assert runner.invoke(app, ["submit", str(files.spec_path)], env=env).exit_code == 0
    run_cycle(engine, settings)
    answer_open_hits(market, truthful(files.truth), WORKERS)
    run_cycle(engine, settings)
    run_cycle(engine, settings)

    status = runner.invoke(app, ["status", "test-job", "--json"], env=env)
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)[0]
    assert report["status"] == "Completed" and report["consolidated"] == 3
    assert report["spent_cents"] == 9 * 6 and report["committed_cents"] == 0

    exported = runner.invoke(app, ["export", "test-job", "--csv"], env=env)
    assert exported.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert {r["object"]: r["label"] for r in rows} == files.truth

    copy = tmp_path / "copy.manifest"
    assert runner.invoke(app, ["export", "test-job", "-o", str(copy)], env=env).exit_code == 0
    assert len(copy.read_text().splitlines()) == 3
    as_format = runner.invoke(app, ["export", "test-job", "--format", "csv"], env=env)
    assert as_format.exit_code == 0 and as_format.output == exported.output
    coco = runner.invoke(app, ["export", "test-job", "--format", "coco"], env=env)
    assert (
        coco.exit_code == 1 and "line 1" in coco.output and "only bounding-box jobs" in coco.output.replace("\n", " ")
    )
    yolo = runner.invoke(app, ["export", "test-job", "--format", "yolo"], env=env)
    assert yolo.exit_code == 1 and "--output DIRECTORY" in yolo.output
    unknown = runner.invoke(app, ["export", "test-job", "--format", "parquet"], env=env)
    assert unknown.exit_code == 1 and "coco" in unknown.output

    assignment = next(iter(market.marketplace.assignments.values()))
    bonus_args = ["worker", "bonus", assignment.worker_id, assignment.id, "--amount", "0.10", "--reason", "Thanks"]
    assert runner.invoke(app, bonus_args, env=env).exit_code == 0
    assert runner.invoke(app, bonus_args, env=env).exit_code == 0  # same bonus again: deduplicated
    assert len(market.marketplace.bonuses) == 1
    assert runner.invoke(app, ["worker", "block", WORKERS[2], "--reason", "spam"], env=env).exit_code == 0
    assert WORKERS[2] in {b["WorkerId"] for b in _blocks(market)}
    assert runner.invoke(app, ["worker", "unblock", WORKERS[2]], env=env).exit_code == 0
    assert WORKERS[2] not in {b["WorkerId"] for b in _blocks(market)}
    message = runner.invoke(app, ["worker", "message", WORKERS[0], "--subject", "Hi", "--body", "Thanks!"], env=env)
    assert message.exit_code == 0 and "messaged 1 of 1" in message.output


def _blocks(market) -> list[dict]:
    return market.marketplace.list_worker_blocks({}).get("WorkerBlocks", [])


def test_agreement_policy_rejects_a_disagreeing_worker_with_the_message(tmp_path, market, settings, engine):
    policy = {
        "approve": "agreement",
        "min_agreement": 0.5,
        "min_answers_to_judge": 3,
        "reject_message": "Too many answers disagreed with the consensus.",
    }
    files = write_job(tmp_path / "job", "text-classification", 4, review_policy=policy, workers_per_object=4)
    from broker.stages.submit import submit_job

    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    honest = truthful(files.truth)

    def contrarian(block, worker):
        right = honest(block, worker)
        return files.labels[1 - files.labels.index(right)]

    answer_open_hits(market, honest, WORKERS)
    answer_open_hits(market, contrarian, ["ASPAMMER000001"])
    for _ in range(3):
        run_cycle(engine, settings)
    statuses = {(a.worker_id, a.status) for a in market.marketplace.assignments.values()}
    assert statuses == {(w, "Approved") for w in WORKERS} | {("ASPAMMER000001", "Rejected")}
    rejected = [a for a in market.marketplace.assignments.values() if a.status == "Rejected"]
    assert len(rejected) == 4
    assert all(a.requester_feedback == policy["reject_message"] for a in rejected)


def test_question_over_65535_bytes_is_refused_before_any_call(tmp_path, settings, engine):
    template = tmp_path / "big.liquid"
    template.write_text("<crowd-form><p>" + "x" * 70_000 + "</p>{{ task.input.taskObject }}</crowd-form>\n")
    files = write_job(tmp_path / "job", "custom", 2, template=str(template))
    result = runner.invoke(app, ["submit", str(files.spec_path)], env=_env(settings))
    assert result.exit_code == 1
    assert "65,535" in result.output
    assert "input.manifest:1: source: the HTMLQuestion for this object is" in result.output
    assert _jobs(settings) == []


def test_collect_once_collects_reviews_and_consolidates_without_publishing(tmp_path, market, settings, engine):
    from broker.stages.publish import publish_tick
    from broker.stages.submit import submit_job

    files = write_job(tmp_path / "job", "text-classification", 3, max_concurrent_hits=2)
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    answer_open_hits(market, truthful(files.truth), WORKERS)
    result = runner.invoke(app, ["collect", "--once"], env=_env(settings))
    assert result.exit_code == 0 and "collected 6 assignments from 2 HITs" in result.output
    assert len(market.marketplace.hits) == 2  # nothing new published
    assert {a.status for a in market.marketplace.assignments.values()} == {"Approved"}
