"""The requester's daily loop: failures that reach the user, submit's checks, manual review, bonuses
before finalize, answers that cannot be read, and the marketplace being down."""

from __future__ import annotations

import csv
import json

import yaml
from sqlalchemy import update
from sqlmodel import select
from typer.testing import CliRunner

from broker.cli import app
from broker.daemon import run_cycle
from broker.stages.submit import submit_job
from broker.store import transaction
from broker.store.jobs import job_money
from broker.store.tables import Job
from tests.engine import test_shapes as shapes
from tests.engine.conftest import answer_open_hits, task_answers_xml, truthful, write_job

runner = CliRunner()
WORKERS = ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03"]


def _env(settings) -> dict[str, str]:
    return {"BROKER_DB_URL": settings.db_url, "BROKER_LOCAL_ENDPOINT_URL": settings.local_endpoint_url}


def _status(settings, job: str) -> dict:
    result = runner.invoke(app, ["status", job, "--json"], env=_env(settings))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)[0]


def _spec_json(engine, name: str) -> str:
    with transaction(engine) as session:
        return session.exec(select(Job.spec_json).where(Job.name == name)).one()


def _set_spec_json(engine, name: str, spec_json: str) -> None:
    with transaction(engine) as session:
        session.execute(update(Job).where(Job.name == name).values(spec_json=spec_json))


def _break_job(engine, name: str) -> None:
    """The job as an older release stored a `*-ref` name: its label attribute ends in -ref, which
    the spec now refuses, so every tick that reads the job's spec fails."""
    spec = json.loads(_spec_json(engine, name))
    _set_spec_json(engine, name, json.dumps(spec | {"label_attribute_name": f"{name}-ref"}))


# ----------------------------------------------------------------------------------------- the daemon


def test_a_failing_job_gets_attention_and_never_stops_the_others(tmp_path, market, settings, engine):
    broken = write_job(tmp_path / "a", "text-classification", 2, name="broken-job")
    healthy = write_job(tmp_path / "b", "text-classification", 2, name="healthy-job")
    submit_job(broken.spec_path, engine, settings)
    submit_job(healthy.spec_path, engine, settings)
    good_spec = _spec_json(engine, "broken-job")
    _break_job(engine, "broken-job")

    cycle = run_cycle(engine, settings, ticks=("publish",))
    assert len(cycle.errors) == 1 and cycle.errors[0].startswith("publish: job broken-job: ")
    assert "\n" not in cycle.errors[0]
    assert _status(settings, "healthy-job")["published"] == 2  # published although the older job fails
    assert _status(settings, "broken-job")["attention"] == []  # one failure is not yet a pattern

    for _ in range(2):
        run_cycle(engine, settings, ticks=("publish",))
    attention = _status(settings, "broken-job")["attention"]
    assert [(a["stage"], a["count"]) for a in attention] == [("publish", 3)]
    assert "-ref" in attention[0]["error"] and attention[0]["since"].endswith("+00:00")
    assert _status(settings, "healthy-job")["attention"] == []
    shown = runner.invoke(app, ["status"], env=_env(settings))
    assert "attention" in shown.output and "publish has failed 3 times in a row" in shown.output

    _set_spec_json(engine, "broken-job", good_spec)
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []
    assert _status(settings, "broken-job")["attention"] == []  # working again: the flag clears


def test_run_once_prints_one_line_errors_names_its_log_and_exits_1(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 2)
    submit_job(files.spec_path, engine, settings)
    _break_job(engine, "test-job")
    log = tmp_path / "run.log"
    result = runner.invoke(app, ["run", "--once", "--log-file", str(log)], env=_env(settings))
    assert result.exit_code == 1
    assert f"full log in {log}" in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors and all("job test-job" in line and "-ref" in line for line in errors)
    assert "Traceback" not in result.output
    assert "Traceback" in log.read_text()  # the full detail went to the file it named


def test_status_tables_are_not_cut_at_80_columns_when_redirected(tmp_path, settings, engine):
    long_name = "a-job-name-that-is-long-enough-to-need-more-than-eighty-columns"
    submit_job(write_job(tmp_path / "job", "text-classification", 2, name=long_name).spec_path, engine, settings)
    for command in (["status"], ["status", long_name]):
        result = runner.invoke(app, command, env=_env(settings) | {"COLUMNS": None})
        assert long_name in result.output and "…" not in result.output, result.output


def test_run_once_with_nothing_submitted_creates_no_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BROKER_DB_URL", raising=False)
    commands = (["status"], ["run", "--once"], ["report", "workers", "--all"], ["export", "x"], ["db", "revision"])
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 1, command
        assert "no broker DB at broker.db" in result.output
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------- submit


def test_submit_refuses_what_validate_refuses_on_any_line(tmp_path, settings, engine):
    files = write_job(tmp_path / "job", "image-classification", 3)
    lines = files.manifest_path.read_text().splitlines()
    lines[2] = json.dumps({"source-ref": str(tmp_path / "job" / "images" / "missing.png")})
    files.manifest_path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["submit", str(files.spec_path)], env=_env(settings))
    assert result.exit_code == 1
    assert "input.manifest:3: source-ref:" in result.output and "file not found" in result.output
    assert "nothing submitted" in result.output

    texts = write_job(tmp_path / "texts", "text-classification", 4)
    lines = texts.manifest_path.read_text().splitlines()
    lines[3] = json.dumps({"source": '<"&>' * 4_500})  # 18,000 characters that the page escapes past 64 KB
    texts.manifest_path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["submit", str(texts.spec_path)], env=_env(settings))
    assert result.exit_code == 1
    assert "input.manifest:4: source: the HTMLQuestion for this object is" in result.output
    with transaction(engine) as session:
        assert session.exec(select(Job)).all() == []


def test_submit_checks_the_marketplace_answers(tmp_path, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 2, marketplace="http://127.0.0.1:9")
    result = runner.invoke(app, ["submit", str(files.spec_path)], env=_env(settings))
    assert result.exit_code == 1
    assert "cannot reach the marketplace at http://127.0.0.1:9" in result.output
    assert "nothing submitted" in result.output and "Traceback" not in result.output


def test_production_without_credentials_is_one_clear_line(tmp_path, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 2, marketplace="production")
    env = _env(settings) | {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",  # never ask a metadata service: nothing leaves this machine
    }
    result = runner.invoke(app, ["submit", str(files.spec_path)], env=env)
    assert result.exit_code == 1
    error_lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(error_lines) == 1 and "no AWS credentials for MTurk" in error_lines[0]


# ----------------------------------------------------------------------------------------- review


def test_manual_review_lists_filters_approves_and_rejects_with_the_reason(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 3, review_policy={"approve": "manual"})
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    honest = truthful(files.truth)
    answer_open_hits(market, honest, WORKERS[:2])
    answer_open_hits(
        market, lambda block, worker: files.labels[1 - files.labels.index(honest(block, worker))], WORKERS[2:]
    )
    run_cycle(engine, settings)
    env = _env(settings)

    listed = runner.invoke(app, ["review", "test-job", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.output)
    assert len(items) == 9 and {i["worker_id"] for i in items} == set(WORKERS)
    assert {i["worker_id"] for i in items if "disagrees" in i["flags"]} == {WORKERS[2]}
    low = json.loads(runner.invoke(app, ["review", "test-job", "--max-agreement", "0.5", "--json"], env=env).output)
    assert {i["worker_id"] for i in low} == {WORKERS[2]}

    one = next(i["assignment_id"] for i in items if i["worker_id"] == WORKERS[0])
    assert runner.invoke(app, ["review", "test-job", "--reject", one], env=env).exit_code == 1  # needs a reason
    done = runner.invoke(app, ["review", "test-job", "--approve", one, "--reason", "Thanks!"], env=env)
    assert done.exit_code == 0 and "1 approved" in done.output
    assert market.marketplace.assignments[one].status == "Approved"
    assert market.marketplace.assignments[one].requester_feedback == "Thanks!"

    rule = ["review", "test-job", "--flag", "disagrees", "--reject-all", "--reason", "Labels opposite to the rest."]
    rejected = runner.invoke(app, rule, env=env)
    assert rejected.exit_code == 0 and "3 rejected" in rejected.output
    by_worker = {a.worker_id: a for a in market.marketplace.assignments.values() if a.status == "Rejected"}
    assert set(by_worker) == {WORKERS[2]}
    assert by_worker[WORKERS[2]].requester_feedback == "Labels opposite to the rest."
    left = json.loads(runner.invoke(app, ["review", "test-job", "--json"], env=env).output)
    assert len(left) == 5 and {i["worker_id"] for i in left} == set(WORKERS[:2])
    status = _status(settings, "test-job")
    assert status["rejected"] == 3 and status["approved"] == 1 and status["awaiting_review"] == 5
    table = tmp_path / "workers.csv"
    assert runner.invoke(app, ["report", "workers", "test-job", "--csv", str(table)], env=env).exit_code == 0
    rows = {row["worker_id"]: row for row in csv.DictReader(table.open())}
    assert rows[WORKERS[2]]["status"] == "rejected"  # not "active" with dashes
    assert rows[WORKERS[2]]["status_reason"] == "Labels opposite to the rest."
    assert rows[WORKERS[2]]["flags"].startswith("all 3 answers rejected")
    assert len(rows[WORKERS[0]]["assignment_ids"].split(";")) == 3


def test_agreement_policy_approves_unjudgeable_workers_once_no_answers_are_coming(tmp_path, market, settings, engine):
    policy = {"approve": "agreement", "min_answers_to_judge": 5}
    files = write_job(tmp_path / "job", "text-classification", 4, review_policy=policy)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    answer_open_hits(market, truthful(files.truth), WORKERS)  # 4 answers each: never 5 to judge by
    for _ in range(3):
        run_cycle(engine, settings)
    assert {a.status for a in market.marketplace.assignments.values()} == {"Approved"}
    assert _status(settings, "test-job")["status"] == "Completed"  # not waiting days for auto-approval


def test_unreadable_answers_are_rejected_with_the_reason_and_not_paid(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 2, workers_per_object=1)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    marketplace = market.marketplace
    junk = "x" * 900_000
    nested = "[" * 100_000 + "]" * 100_000
    marketplace.register_worker("AJUNKWORKER001")
    answers = iter([junk, nested])
    for group in marketplace.list_hit_groups("AJUNKWORKER001"):
        while (hit_id := marketplace.next_hit_for_worker(group.hit_type_id, "AJUNKWORKER001")) is not None:
            assignment = marketplace.accept_hit(hit_id, "AJUNKWORKER001")
            xml = task_answers_xml([{}]).replace("[{}]", next(answers))
            marketplace.submit_assignment(assignment, "AJUNKWORKER001", xml)
    for _ in range(2):
        run_cycle(engine, settings)
    rejected = [a for a in marketplace.assignments.values() if a.status == "Rejected"]
    assert len(rejected) == 2
    assert all(a.requester_feedback.startswith("Your answer could not be read: taskAnswers is") for a in rejected)
    assert any("nested too deeply" in a.requester_feedback for a in rejected)
    with transaction(engine) as session:
        job = session.exec(select(Job)).one()
        assert job_money(session, job.id).spent_cents == 0


# ----------------------------------------------------------------------------------------- money


def test_bonuses_are_paid_even_when_finalize_runs_before_quality(tmp_path, market, settings, engine):
    quality = {"bonus": {"amount": "0.10", "top_fraction": 0.3, "min_answers": 1}}
    files = write_job(tmp_path / "job", "text-classification", 3, quality=quality)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings, ticks=("publish",))
    answer_open_hits(market, truthful(files.truth), WORKERS)
    without_quality = ("collect", "review", "consolidate", "output", "finalize")
    for _ in range(3):
        assert run_cycle(engine, settings, ticks=without_quality).errors == []
    assert _status(settings, "test-job")["status"] == "Active"  # the bonus round has not happened yet
    assert len(market.marketplace.bonuses) == 0
    run_cycle(engine, settings, ticks=("quality", "finalize"))
    assert len(market.marketplace.bonuses) == 1
    assert _status(settings, "test-job")["status"] == "Completed"


def test_worker_bonus_with_the_endpoint_down_is_one_line_and_commits_nothing(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "text-classification", 1, workers_per_object=1)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    answer_open_hits(market, truthful(files.truth), WORKERS[:1])
    run_cycle(engine, settings)
    run_cycle(engine, settings)
    assignment = next(iter(market.marketplace.assignments.values()))
    with transaction(engine) as session:
        job = session.exec(select(Job)).one()
        before = job_money(session, job.id)
    market.stop()
    args = ["worker", "bonus", assignment.worker_id, assignment.id, "--amount", "0.25", "--reason", "Thanks"]
    result = runner.invoke(app, args, env=_env(settings))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the marketplace" in lines[0]
    with transaction(engine) as session:
        assert job_money(session, job.id) == before  # the failed bonus is not counted as committed


def test_status_report_job_and_output_agree_when_the_manifest_has_an_unused_gold_label(
    tmp_path, market, settings, engine
):
    files = write_job(tmp_path / "job", "text-classification", 3)
    lines = [json.loads(line) for line in files.manifest_path.read_text().splitlines()]
    lines = [line | {"gold-label": files.truth[line["source"]]} for line in lines]  # no `quality.gold` configured
    files.manifest_path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    answer_open_hits(market, truthful(files.truth), WORKERS)
    run_cycle(engine, settings)
    run_cycle(engine, settings)
    status = _status(settings, "test-job")
    report = runner.invoke(app, ["report", "job", "test-job", "--csv", str(tmp_path / "job.csv")], env=_env(settings))
    assert report.exit_code == 0, report.output
    figures = dict(csv.reader((tmp_path / "job.csv").open()))
    output = runner.invoke(app, ["export", "test-job"], env=_env(settings)).output.splitlines()
    assert status["consolidated"] == int(figures["consolidated"]) == len(output) == 3
    assert figures["gold_objects"] == "0"


def test_reject_invalid_rejects_a_box_outside_the_image_with_the_reason(tmp_path, market, settings, engine):
    spec_path = shapes._box_job(tmp_path)
    spec = yaml.safe_load(spec_path.read_text()) | {"review": {"reject_invalid": True}}
    spec_path.write_text(yaml.safe_dump(spec))
    submit_job(spec_path, engine, settings)
    run_cycle(engine, settings, ticks=("publish",))

    def draw(data: dict, worker: str) -> dict:
        scene = shapes.BOX_TRUTH[int(data["source-ref"].rsplit("-", 1)[1].split(".")[0])]
        boxes = [{"label": c, "left": x, "top": y, "width": w, "height": h} for c, x, y, w, h in scene]
        if worker == shapes.WORKERS[2]:
            boxes.append({"label": "car", "left": shapes.IMAGE_W - 10, "top": 5, "width": 40, "height": 10})
        return {"boundingBoxes": boxes, "inputImageProperties": {"width": shapes.IMAGE_W, "height": shapes.IMAGE_H}}

    shapes._answer_all(market, draw)
    for _ in range(3):
        run_cycle(engine, settings)
    by_status: dict[str, set[str]] = {}
    for assignment in market.marketplace.assignments.values():
        by_status.setdefault(assignment.status, set()).add(assignment.worker_id)
    assert by_status == {"Approved": set(shapes.WORKERS[:2]), "Rejected": {shapes.WORKERS[2]}}
    rejected = [a for a in market.marketplace.assignments.values() if a.status == "Rejected"]
    assert all(
        a.requester_feedback.startswith("Your answer failed the task's checks: ")
        and "outside the 120x80 image" in a.requester_feedback
        for a in rejected
    )
