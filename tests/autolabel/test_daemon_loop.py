"""The auto-label loop inside the daemon (issue 7): embedded marketplace over HTTP, the real ticks.

Answers go through the marketplace's worker side (tests.engine.conftest.answer_open_hits); the
images are solid colours, so the model is sure of them once it has seen a few of each.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from broker import mturk
from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus, ObjectStatus
from broker.output import REASON_BUDGET
from broker.reports.status import job_status
from broker.stages.autolabel import STOP_REASONS, autolabel_tick
from broker.stages.publish import publish_tick
from broker.stages.submit import submit_job
from broker.store import dispose_engine, get_engine, reading
from broker.store.jobs import job_money, unfinished_job_count
from broker.store.tables import AutoLabelRun, DataObject, Hit, Job
from tests.engine.conftest import COLORS, answer_open_hits, db_url, engine, market, settings, truthful, write_job  # noqa: F401

WORKERS = ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03", "AWORKERFOUR004", "AWORKERFIVE005"]
N_OBJECTS = 120
AUTO = {
    "target_accuracy": 0.8,
    "validation_fraction": 0.2,
    "initial_batch_size": 40,
    "human_batch_size": 10,
    "validation_workers_per_object": 5,
}


def drive(engine, settings, market, truth, cycles: int = 40) -> int:
    """Run every tick, answer what is open, repeat until no job is left; the cycles it took."""
    for cycle in range(1, cycles + 1):
        result = run_cycle(engine, settings)
        assert result.errors == []
        with reading(engine) as session:
            remaining = unfinished_job_count(session)
        if remaining == 0:
            return cycle
        answer_open_hits(market, truthful(truth), WORKERS)
    raise AssertionError(f"the job did not finish in {cycles} cycles")


def objects_of(engine) -> list[DataObject]:
    with Session(engine) as session:
        return list(session.exec(select(DataObject).order_by(DataObject.index)))


def hits_of(engine) -> list[Hit]:
    with Session(engine) as session:
        return list(session.exec(select(Hit)))


def state_of(engine) -> dict | None:
    with Session(engine) as session:
        run = session.exec(select(AutoLabelRun)).first()
        return json.loads(run.state_json) if run is not None else None


def manifest_lines(files, name: str = "test-job", kind: str = "output") -> list[dict]:
    path = files.output_dir / name / "manifests" / "output" / f"{kind}.manifest"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_machine_labels_sure_objects_and_writes_them_as_not_human_annotated(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "image-classification", N_OBJECTS, auto_label=AUTO)
    submit_job(files.spec_path, engine, settings)
    assert {o.status for o in objects_of(engine)} == {ObjectStatus.HELD}

    drive(engine, settings, market, files.truth)

    objects = objects_of(engine)
    state = state_of(engine)
    machine = [o for o in objects if o.status == ObjectStatus.MACHINE_LABELED]
    human = [o for o in objects if o.status == ObjectStatus.CONSOLIDATED]
    assert state["done"] and state["reason"] == "all-labeled"
    assert len(machine) > 0 and len(human) + len(machine) == N_OBJECTS
    assert {o.index for o in human} == set(state["requested"])

    hits = hits_of(engine)
    per_object = Counter(h.object_id for h in hits)
    assert max(per_object.values()) == 1 and len(hits) == len(human)  # one HIT per human object, none for machine
    validation = set(state["validation_ids"])
    index_of = {o.id: o.index for o in objects}
    assert {h.max_assignments for h in hits if index_of[h.object_id] in validation} == {5}
    assert {h.max_assignments for h in hits if index_of[h.object_id] not in validation} == {3}

    lines = manifest_lines(files)
    assert len(lines) == N_OBJECTS
    by_source = {line["source-ref"]: line for line in lines}
    for obj in objects:
        line = by_source[obj.data["source-ref"]]
        meta = line["test-job-metadata"]
        assert meta["class-name"] == files.truth[obj.data["source-ref"]]
        assert meta["human-annotated"] == ("no" if obj.status == ObjectStatus.MACHINE_LABELED else "yes")
        if obj.status == ObjectStatus.MACHINE_LABELED:
            stored = json.loads(obj.confidence_json)
            assert 0.0 < meta["confidence"] <= 1.0 and meta["confidence"] == pytest.approx(stored, abs=0.01)

    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        report = job_status(session, job)
        money = job_money(session, job.id)
    assert job.status == JobStatus.COMPLETED
    summary = report.auto_label
    assert summary["machine_labeled"] == len(machine) and summary["held"] == 0
    assert [row["iteration"] for row in summary["iterations"]] == list(range(1, len(summary["iterations"]) + 1))
    assert summary["iterations"][-1]["machine_count"] == len(machine)
    assert any(row["threshold"] is not None and row["validation_accuracy"] == 1.0 for row in summary["iterations"])
    # the crowd cost the summary claims is what was really paid: 5c reward + 1c fee per approved assignment
    assert summary["cost"]["cost_cents"] == money.spent_cents == 6 * sum(h.max_assignments for h in hits)
    assert summary["cost"]["all_human_cost_cents"] == N_OBJECTS * 3 * 6
    assert 0.0 < summary["cost"]["saved_fraction"] < 1.0
    model = Path(summary["model_uri"])
    assert model == files.output_dir / "test-job" / "activelearning" / "model.joblib" and model.stat().st_size > 0


def test_status_and_job_report_show_the_iterations_and_the_saving(tmp_path, market, settings, engine):
    from rich.console import Console

    from broker.cli import _job_table
    from broker.reports.html import job_report_html
    from broker.reports.jobs import job_report
    from broker.reports.tables import job_rows

    files = write_job(tmp_path / "job", "image-classification", N_OBJECTS, auto_label=AUTO)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)
    with Session(engine) as session:
        running = job_status(session, session.exec(select(Job)).one()).auto_label
    assert running["done"] is False and running["iterations"] == [] and running["held"] == N_OBJECTS - 40

    drive(engine, settings, market, files.truth)
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        status, report = job_status(session, job), job_report(session, job)
    assert report.auto_label == status.auto_label and report.as_dict()["auto_label"] == status.auto_label
    rows = dict(job_rows(report))
    machine = status.auto_label["machine_labeled"]
    assert rows["auto-label"] == (
        f"done (all-labeled): {N_OBJECTS - machine} objects to the crowd (24 validation), "
        f"{machine} machine-labeled, 0 held"
    )
    assert rows["auto-label saving"].startswith(f"{status.auto_label['cost']['saved_fraction']:.1%}")
    assert "validation accuracy 1.000" in rows["  iteration 1"]
    assert "not tested: the first model" in rows["  iteration 1"]  # the job's error budget is not spent on it
    tested = [row for row in status.auto_label["iterations"] if row["threshold"] is not None]
    assert tested, "no iteration machine-labeled"
    first = tested[0]
    assert (
        f"threshold {first['threshold']:.3f} on {first['evidence']} validation objects"
        in rows[f"  iteration {first['iteration']}"]
    )
    assert rows["auto-label promise"].startswith("with 95% confidence, at least 80% of all the job's machine labels")
    html = job_report_html(report)
    assert "Automated labeling" in html and "validation accuracy" in html
    assert "lower bound" in html and "Promise: with 95% confidence" in html
    console = Console(record=True, width=200)
    console.print(_job_table(status))  # `broker status <job>`
    text = console.export_text()
    assert rows["auto-label"] in text and "iteration 1" in text and "activelearning/model.joblib" in text


def test_max_human_labeled_objects_stops_the_loop_and_fails_the_rest_with_the_reason(
    tmp_path, market, settings, engine
):
    # target 0.99 cannot be shown on 24 validation objects: nothing is machine-labeled
    auto = {**AUTO, "target_accuracy": 0.99, "max_human_labeled_objects": 40}
    files = write_job(tmp_path / "job", "image-classification", N_OBJECTS, auto_label=auto)
    submit_job(files.spec_path, engine, settings)
    drive(engine, settings, market, files.truth)

    state = state_of(engine)
    assert state["done"] and state["reason"] == "max-human-labeled-objects"
    objects = objects_of(engine)
    assert Counter(o.status for o in objects) == {ObjectStatus.CONSOLIDATED: 40, ObjectStatus.FAILED: N_OBJECTS - 40}
    assert len(hits_of(engine)) == 40
    failed = manifest_lines(files, kind="failed")
    assert len(failed) == N_OBJECTS - 40
    assert {line["test-job-metadata"]["failure-reason"] for line in failed} == {
        STOP_REASONS["max-human-labeled-objects"]
    }


def test_budget_stops_the_loop_after_what_it_can_pay_for(tmp_path, market, settings, engine):
    # the first batch: 16 objects x 3 x 6c + 24 validation objects x 5 x 6c = 1,008c; then room for 2 HITs of 18c
    files = write_job(
        tmp_path / "job",
        "image-classification",
        N_OBJECTS,
        budget_usd="10.44",
        auto_label={**AUTO, "target_accuracy": 0.99},
    )
    submit_job(files.spec_path, engine, settings)
    drive(engine, settings, market, files.truth)

    state = state_of(engine)
    assert state["reason"] == "budget-exhausted"
    with Session(engine) as session:
        money = job_money(session, session.exec(select(Job)).one().id)
    assert money.spent_cents <= 1044 and money.committed_cents == 0
    objects = objects_of(engine)
    assert Counter(o.status for o in objects)[ObjectStatus.CONSOLIDATED] == 42
    assert {o.failure_reason for o in objects if o.status == ObjectStatus.FAILED} == {REASON_BUDGET}


def test_crash_after_saving_state_before_publishing_loses_and_duplicates_nothing(tmp_path, market, settings, engine):
    files = write_job(tmp_path / "job", "image-classification", N_OBJECTS, auto_label=AUTO)
    submit_job(files.spec_path, engine, settings)
    report = autolabel_tick(engine, settings)
    assert report.released == 40
    released = {o.index for o in objects_of(engine) if o.status == ObjectStatus.PENDING}
    state = state_of(engine)
    assert sorted(released) == sorted(state["requested"]) == state["first_batch"]

    # the daemon dies here: the state and the released batch are committed, no HIT exists yet
    dispose_engine(settings.db_url)
    mturk.forget_clients()
    restarted = get_engine(settings.db_url)
    assert autolabel_tick(restarted, settings).released == 0  # the batch is not released twice
    assert state_of(restarted) == state
    publish_tick(restarted, settings)
    hits = hits_of(restarted)
    index_of = {o.id: o.index for o in objects_of(restarted)}
    assert sorted(index_of[h.object_id] for h in hits) == sorted(released)

    drive(restarted, settings, market, files.truth)
    objects = objects_of(restarted)
    assert max(Counter(h.object_id for h in hits_of(restarted)).values()) == 1
    assert {o.status for o in objects} == {ObjectStatus.CONSOLIDATED, ObjectStatus.MACHINE_LABELED}
    assert len(manifest_lines(files)) == N_OBJECTS


def test_crash_inside_an_iteration_commits_nothing_and_the_repeat_completes_it(
    tmp_path, market, settings, engine, monkeypatch
):
    from broker.stages import autolabel as autolabel_stage

    # each iteration tested on its own, so that the first one, the one crashed here, machine-labels
    auto = {**AUTO, "error_budget": "per-iteration"}
    files = write_job(tmp_path / "job", "image-classification", N_OBJECTS, auto_label=auto)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings, ticks=("autolabel", "publish"))  # the first batch is released, published
    assert answer_open_hits(market, truthful(files.truth), WORKERS) == 24 * 5 + 16 * 3
    run_cycle(engine, settings, ticks=("collect", "review", "consolidate"))
    before = state_of(engine)
    statuses = Counter(o.status for o in objects_of(engine))

    def crash(*args, **kwargs):
        raise RuntimeError("killed inside the commit")

    monkeypatch.setattr(autolabel_stage, "record_autolabel_event", crash)  # raises after the updates, before the commit
    report = autolabel_tick(engine, settings)
    assert report.errors and "killed" in report.errors[0]
    assert state_of(engine) == before and Counter(o.status for o in objects_of(engine)) == statuses

    monkeypatch.undo()
    report = autolabel_tick(engine, settings)
    assert report.errors == [] and report.iterations == 1
    after = state_of(engine)
    assert len(after["iterations"]) == 1 and len(after["requested"]) == 40 + report.released
    objects = objects_of(engine)
    machine = {o.index for o in objects if o.status == ObjectStatus.MACHINE_LABELED}
    assert machine == {int(i) for i in after["machine"]} and len(machine) == report.machine_labeled > 0
    released = {o.index for o in objects if o.status == ObjectStatus.PENDING}
    assert released == set(after["requested"]) - set(after["first_batch"]) and len(released) == report.released


def test_gold_objects_go_to_the_crowd_at_once_and_stay_out_of_the_output(tmp_path, market, settings, engine):
    files = write_job(
        tmp_path / "job",
        "image-classification",
        N_OBJECTS,
        auto_label=AUTO,
        quality={"gold": {"manifest": str(tmp_path / "gold.manifest"), "rate": 0.1}},
    )
    sources = list(files.truth)[:6]
    (tmp_path / "gold.manifest").write_text(
        "".join(json.dumps({"source-ref": source, "gold-label": files.truth[source]}) + "\n" for source in sources)
    )
    submit_job(files.spec_path, engine, settings)
    objects = objects_of(engine)
    gold = {o.index for o in objects if "gold-label" in o.data}
    assert gold and {o.index for o in objects if o.status == ObjectStatus.PENDING} == gold
    assert all(o.status == ObjectStatus.HELD for o in objects if o.index not in gold)

    drive(engine, settings, market, files.truth)
    state = state_of(engine)
    assert state["done"] and gold <= set(state["requested"]) and not gold & {int(i) for i in state["machine"]}
    assert {o.status for o in objects_of(engine) if o.index in gold} == {ObjectStatus.CONSOLIDATED}
    lines = manifest_lines(files)
    assert len(lines) == N_OBJECTS and not any("gold-label" in line for line in lines)
    assert any(line["test-job-metadata"]["human-annotated"] == "no" for line in lines)


def test_demo_auto_label_on_300_digits_with_the_simulated_crowd(tmp_path):
    """`broker demo --auto-label` on 300 digits: the simulated crowd over HTTP, the real ticks. The
    crowd is noisy (15% spammers), so 95% cannot be shown on 60 validation objects; 80% can, when
    each validation object gets 5 answers (with 3, its labels were too noisy to show it in about a
    quarter of runs, and everything went to the crowd)."""
    from broker.demo import DemoOptions, run_demo
    from broker.tasks.demo_digits import write_digits

    summary = run_demo(
        DemoOptions(
            output=tmp_path / "demo",
            objects=300,
            auto_label=True,
            show_progress=False,
            auto_label_settings={
                "target_accuracy": 0.8,
                "validation_fraction": 0.2,
                "validation_workers_per_object": 5,
            },
        )
    )
    data = summary.as_dict()
    assert {"machine_labeled", "machine_label_accuracy", "cost_saved_fraction"} <= set(data)
    lines = [json.loads(line) for line in Path(summary.output_manifest).read_text().splitlines()]
    assert len(lines) == 300 and summary.failed_objects == 0
    _, truth = write_digits(tmp_path / "demo", 300)
    machine = [line for line in lines if line["digits-metadata"]["human-annotated"] == "no"]
    assert summary.machine_labeled == len(machine) > 0
    right = sum(line["digits-metadata"]["class-name"] == truth[line["source-ref"]] for line in machine)
    assert summary.machine_label_accuracy == round(right / len(machine), 4) >= 0.8
    # 2c reward + 1c fee per assignment; human objects get 3 answers, the 60 validation objects 5, and
    # each validation object the model contradicted 2 more
    url = f"sqlite:///{summary.db}"
    with reading(get_engine(url)) as session:
        asked_again = json.loads(session.exec(select(AutoLabelRun)).one().state_json)["asked_again"]
    dispose_engine(url)
    human, per_validation = 300 - len(machine), 5
    assert summary.assignments == (human - 60) * 3 + 60 * per_validation + 2 * len(asked_again)
    assert summary.cost_saved_fraction == round(1 - summary.assignments * 3 / (300 * 3 * 3), 4)


def test_validation_labels_the_model_contradicts_get_more_answers_and_are_corrected(tmp_path, market, settings, engine):
    """Three of five workers mislabel four validation objects on their first HIT: the model contradicts
    the crowd there, so each object goes back to the crowd once for two more answers (a second HIT),
    its label is corrected, and the cost the summary claims is what was paid."""
    files = write_job(tmp_path / "job", "image-classification", N_OBJECTS, auto_label=AUTO)
    submit_job(files.spec_path, engine, settings)
    run_cycle(engine, settings)  # the first batch is released
    state = state_of(engine)
    sources = {o.index: o.data["source-ref"] for o in objects_of(engine)}
    lied_on = {sources[i] for i in state["validation_ids"][:4]}
    labels = list(COLORS)  # the spec's label order
    seen: set[tuple[str, str]] = set()

    def chooser(block: dict, worker: str) -> str:
        source = block["dataObject"]["source-ref"]
        true = files.truth[source]
        first_sight = (source, worker) not in seen
        seen.add((source, worker))
        if source in lied_on and first_sight and worker in WORKERS[:3]:
            return labels[(labels.index(true) + 1) % len(labels)]
        return true

    for _ in range(40):
        assert run_cycle(engine, settings).errors == []
        with reading(engine) as session:
            if unfinished_job_count(session) == 0:
                break
        answer_open_hits(market, chooser, WORKERS)
    else:
        raise AssertionError("the job did not finish")

    objects = objects_of(engine)
    state = state_of(engine)
    lied = [o for o in objects if o.data["source-ref"] in lied_on]
    assert {o.index for o in lied} <= {int(i) for i in state["asked_again"]}
    hits = hits_of(engine)
    for obj in lied:
        mine = sorted((h for h in hits if h.object_id == obj.id), key=lambda h: h.id)
        assert [h.max_assignments for h in mine] == [5, 2]  # the validation HIT, then one more of 2
        assert obj.status == ObjectStatus.CONSOLIDATED
        assert json.loads(obj.label_json) == labels.index(files.truth[obj.data["source-ref"]])
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        summary = job_status(session, job).auto_label
        money = job_money(session, job.id)
    assert summary["cost"]["cost_cents"] == money.spent_cents == 6 * sum(h.max_assignments for h in hits)
