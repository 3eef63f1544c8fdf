"""Custom jobs through the engine: Ground Truth's pre- and post-annotation Lambda contracts as Python
hooks (broker.hooks), and the pass-through output without a post-annotation hook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus, ObjectStatus
from broker.spec import SubmitError
from broker.stages.submit import submit_job
from broker.store.tables import DataObject, Event, Job
from tests.engine.conftest import task_answers_xml

WORKERS = ["ACUSTOMWORKER1", "ACUSTOMWORKER2", "ACUSTOMWORKER3"]
TEMPLATE = """<crowd-form>
  <p>{{ task.input.taskObject }}</p>
  {% for choice in task.input.choices %}<label><input type="radio" name="mood" value="{{ choice }}"> \
{{ choice }}</label>{% endfor %}
</crowd-form>"""
# A Ground Truth PRE Lambda, as the guide writes one: the choices come from the line; lines marked
# "skip" need no person. The POST Lambda reads the payload file and takes the majority answer.
HOOKS = """
import json
from collections import Counter

from broker.hooks import read_payload

SEEN = []

def pre(event, context):
    line = event["dataObject"]
    assert event["version"] == "2018-10-16" and event["labelingJobArn"].endswith("/moods")
    if line.get("skip"):
        return {"taskInput": {}, "isHumanAnnotationRequired": "false"}
    return {"taskInput": {"taskObject": line["source"], "choices": line["choices"]}}

def post(event, context):
    SEEN.append(event)
    out = []
    for item in read_payload(event):
        votes = Counter(json.loads(a["annotationData"]["content"])["mood"] for a in item["annotations"])
        mood, count = votes.most_common(1)[0]
        out.append({"datasetObjectId": item["datasetObjectId"],
                    "consolidatedAnnotation": {"content": {event["labelAttributeName"]: {
                        "mood": mood, "votes": count, "text": item["dataObject"]["content"]}}}})
    return out

def broken_post(event):
    return [{"datasetObjectId": "0", "consolidatedAnnotation": {"content": {"wrong-attribute": 1}}}]
"""
LINES = [
    {"source": "I loved it", "choices": ["happy", "sad"]},
    {"source": "Cold soup", "choices": ["happy", "sad", "angry"]},
    {"source": "(header row)", "skip": True},
]


def _custom_job(folder: Path, hooks: dict | None) -> Path:
    (folder / "mood.liquid").write_text(TEMPLATE)
    (folder / "mood_hooks.py").write_text(HOOKS)
    (folder / "in.manifest").write_text("".join(json.dumps(line) + "\n" for line in LINES))
    spec = {
        "job_name": "moods",
        "task_type": "custom",
        "template": "mood.liquid",
        "input_manifest": "in.manifest",
        "output": "out",
        "workers_per_object": 3,
        "reward": "0.05",
        "title": "Say the mood",
        "description": "Pick the mood of a sentence.",
        "lifetime_seconds": 3600,
        "assignment_duration_seconds": 600,
        "auto_approval_delay_seconds": 86400,
    }
    if hooks:
        spec["hooks"] = hooks
    path = folder / "moods.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _answer(market, mood_of) -> int:
    """Each worker takes every HIT; the page's text decides the answer (the form's own post)."""
    marketplace = market.marketplace
    submitted = 0
    for worker in WORKERS:
        marketplace.register_worker(worker)
    for worker in WORKERS:
        for group in marketplace.list_hit_groups(worker):
            while (hit_id := marketplace.next_hit_for_worker(group.hit_type_id, worker)) is not None:
                page = marketplace.preview_hit(hit_id, None).html_content
                assignment_id = marketplace.accept_hit(hit_id, worker)
                text = "I loved it" if "I loved it" in page else "Cold soup"
                marketplace.submit_assignment(
                    assignment_id, worker, task_answers_xml([{"mood": mood_of(text, worker)}])
                )
                submitted += 1
    return submitted


def _finish(engine, settings, job_id: int) -> list[str]:
    errors: list[str] = []
    for _ in range(4):
        errors += run_cycle(engine, settings).errors
        with Session(engine) as session:
            if session.get(Job, job_id).status == JobStatus.COMPLETED:
                return errors
    return errors


def _output(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for line in (folder / "out" / "moods" / "manifests" / "output" / "output.manifest").read_text().splitlines()
    ]


def _mood(text: str, worker: str) -> str:
    return {"I loved it": "happy", "Cold soup": "angry"}[text] if worker != WORKERS[2] else "sad"


def test_pre_and_post_hooks_run_as_ground_truth_lambdas(tmp_path, market, settings, engine):
    job_id = submit_job(
        _custom_job(tmp_path, {"pre_annotation": "mood_hooks.py:pre", "post_annotation": "mood_hooks.py:post"}),
        engine,
        settings,
    ).job_id
    with Session(engine) as session:
        statuses = [o.status for o in session.exec(select(DataObject).order_by(DataObject.index))]
    assert statuses == [ObjectStatus.PENDING, ObjectStatus.PENDING, ObjectStatus.CARRIED]  # the skipped line
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []
    pages = [market.marketplace.preview_hit(h, None).html_content for h in _open_hits(market)]
    assert len(pages) == 2 and any('value="angry"' in page for page in pages)  # taskInput from the PRE hook
    assert _answer(market, _mood) == 6
    assert _finish(engine, settings, job_id) == []

    lines = _output(tmp_path)
    assert lines[0]["moods"] == {"mood": "happy", "votes": 2, "text": "I loved it"}
    assert lines[1]["moods"] == {"mood": "angry", "votes": 2, "text": "Cold soup"}
    assert lines[0]["moods-metadata"]["type"] == "groundTruth/custom"
    assert lines[0]["moods-metadata"]["job_name"] == "labeling-job/moods"
    assert lines[2] == LINES[2]  # never posted: passed through unlabeled
    [request] = list((tmp_path / "out" / "moods" / "annotations" / "consolidation-request").glob("*.json"))
    payload = json.loads(request.read_text())
    assert [item["datasetObjectId"] for item in payload] == ["0", "1"]
    assert payload[0]["dataObject"] == {"content": "I loved it"}
    assert sorted(a["workerId"] for a in payload[0]["annotations"]) == sorted(WORKERS)
    assert json.loads(payload[0]["annotations"][0]["annotationData"]["content"]) in ({"mood": "happy"}, {"mood": "sad"})


def _open_hits(market) -> list[str]:
    client = market.client()
    return [hit["HITId"] for hit in client.list_hits()["HITs"]]


def test_without_a_post_hook_every_answer_passes_through(tmp_path, market, settings, engine):
    job_id = submit_job(_custom_job(tmp_path, {"pre_annotation": "mood_hooks.py:pre"}), engine, settings).job_id
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []
    _answer(market, _mood)
    assert _finish(engine, settings, job_id) == []
    line = _output(tmp_path)[0]
    everyone = line["moods"]["annotationsFromAllWorkers"]
    assert sorted(a["workerId"] for a in everyone) == sorted(WORKERS)
    assert sorted(json.loads(a["annotationData"]["content"])["mood"] for a in everyone) == ["happy", "happy", "sad"]


def test_a_post_hook_outside_the_contract_is_reported_and_loses_nothing(tmp_path, market, settings, engine):
    job_id = submit_job(
        _custom_job(tmp_path, {"pre_annotation": "mood_hooks.py:pre", "post_annotation": "mood_hooks.py:broken_post"}),
        engine,
        settings,
    ).job_id
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []
    _answer(market, _mood)
    errors = _finish(engine, settings, job_id)
    assert errors and all(
        "broken_post: response[0]: consolidatedAnnotation.content has no 'moods'" in e for e in errors
    )
    with Session(engine) as session:
        statuses = {o.index: o.status for o in session.exec(select(DataObject))}
        events = [e.kind for e in session.exec(select(Event).where(Event.job_id == job_id))]
    assert statuses[0] == statuses[1] == ObjectStatus.ANSWERED  # kept for the next pass, nothing stored
    assert "hook-failed" in events


def test_a_pre_hook_that_raises_stops_the_submit_naming_the_line(tmp_path, engine, settings):
    spec_path = _custom_job(tmp_path, {"pre_annotation": "mood_hooks.py:pre"})
    lines = LINES[:1] + [{"source": "no choices here"}]
    (tmp_path / "in.manifest").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(SubmitError) as error:
        submit_job(spec_path, engine, settings)
    assert "in.manifest:2: hooks.pre_annotation:" in str(error.value) and "KeyError: 'choices'" in str(error.value)
    with Session(engine) as session:
        assert session.exec(select(Job)).first() is None  # nothing half-submitted


def test_hook_references_are_checked_with_the_spec(tmp_path):
    from broker.spec import SpecError, load_job_spec

    spec_path = _custom_job(tmp_path, {"pre_annotation": "missing.py:pre"})
    with pytest.raises(SpecError, match=r"hooks.pre_annotation.*missing.py: no such file"):
        load_job_spec(spec_path)
    spec_path = _custom_job(tmp_path, {"post_annotation": "mood_hooks.py"})
    with pytest.raises(SpecError, match=r"hooks.post_annotation.*'file.py:function'"):
        load_job_spec(spec_path)


def test_validate_prices_only_the_objects_a_pre_hook_sends_to_people(tmp_path):
    from broker.validate import validate_job

    report = validate_job(_custom_job(tmp_path, {"pre_annotation": "mood_hooks.py:pre"}))
    assert report.ok, [str(issue) for issue in report.issues]
    assert report.max_cost_cents == 2 * 3 * 6  # 2 of 3 lines posted x 3 workers x (5c + 1c fee)
    assert any("1 object(s) need no human annotation" in warning for warning in report.warnings)
    from broker.estimate import count_manifest_objects
    from broker.spec import load_job_spec

    assert count_manifest_objects(load_job_spec(tmp_path / "moods.yaml")) == 2  # broker estimate agrees
