"""Bounding-box and named-entity jobs through the engine: HITs on the embedded marketplace,
answers checked at collection (bad ones kept and flagged), consolidation through scoring, and
Ground Truth's object-detection and text-span output layouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import yaml
from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.db import Assignment, DataObject, Job, JobStatus, ObjectStatus, ReviewStatus
from broker.submit import submit_job
from tests.engine.conftest import hit_data_object, task_answers_xml

WORKERS = ["ABOXWORKER0001", "ABOXWORKER0002", "ABOXWORKER0003"]
IMAGE_W, IMAGE_H = 120, 80
BOX_TRUTH = [  # per image: (label, left, top, width, height)
    [("car", 10, 10, 40, 30)],
    [("car", 5, 40, 30, 25), ("person", 70, 8, 20, 60)],
    [("person", 50, 20, 30, 50)],
    [],
]
SENTENCES = [
    ("Ada Lovelace met Charles Babbage in London.", [("person", 0, 12), ("person", 17, 32), ("place", 36, 42)]),
    ("Paris is big.", [("place", 0, 5)]),
    ("Nothing here.", []),
]


def _spec(folder: Path, task_type: str, labels: list[str], manifest: Path, attribute: str) -> Path:
    spec = {"job_name": f"{task_type}-job", "label_attribute_name": attribute, "task_type": task_type,
            "labels": labels, "input_manifest": str(manifest), "output": str(folder / "output"),
            "workers_per_object": 3, "reward": "0.08", "title": "Mark the objects", "description": "Mark every object.",
            "lifetime_seconds": 3600, "assignment_duration_seconds": 600, "auto_approval_delay_seconds": 86400}
    path = folder / f"{task_type}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _box_job(folder: Path) -> Path:
    from PIL import Image, ImageDraw

    (folder / "images").mkdir(parents=True)
    lines = []
    for i, boxes in enumerate(BOX_TRUTH):
        image = Image.new("RGB", (IMAGE_W, IMAGE_H), "white")
        for _, left, top, width, height in boxes:
            ImageDraw.Draw(image).rectangle([left, top, left + width - 1, top + height - 1], fill="black")
        path = folder / "images" / f"scene-{i}.png"
        image.save(path)
        lines.append(json.dumps({"source-ref": str(path), "scene": i}))
    manifest = folder / "input.manifest"
    manifest.write_text("\n".join(lines) + "\n")
    return _spec(folder, "bounding-box", ["car", "person"], manifest, "bb")


def _answer_all(market: Any, answer: Callable[[dict, str], dict]) -> int:
    """Each worker accepts and submits every HIT once with answer(data object, worker)."""
    marketplace = market.marketplace
    submitted = 0
    for worker in WORKERS:
        marketplace.register_worker(worker)
    for worker in WORKERS:
        for group in marketplace.list_hit_groups(worker):
            while (hit_id := marketplace.next_hit_for_worker(group.hit_type_id, worker)) is not None:
                block = hit_data_object(marketplace, hit_id)
                assignment_id = marketplace.accept_hit(hit_id, worker)
                content = {block["name"]: answer(block["dataObject"], worker)}
                marketplace.submit_assignment(assignment_id, worker, task_answers_xml([content]))
                submitted += 1
    return submitted


def _run_to_completion(engine, settings, job_id: int) -> None:
    for _ in range(4):
        assert run_cycle(engine, settings).errors == []
        with Session(engine) as session:
            if session.get(Job, job_id).status == JobStatus.COMPLETED:
                return
    raise AssertionError("the job did not complete")


def _output(files_folder: Path, job_name: str) -> list[dict]:
    text = (files_folder / "output" / job_name / "manifests" / "output" / "output.manifest").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_bounding_box_job_consolidates_boxes_and_flags_a_box_outside_the_image(tmp_path, market, settings, engine):
    spec_path = _box_job(tmp_path)
    job_id = submit_job(spec_path, engine, settings).job_id
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []
    jitter = {WORKERS[0]: (1, -1), WORKERS[1]: (-1, 2), WORKERS[2]: (0, 1)}

    def draw(data: dict, worker: str) -> dict:
        scene = BOX_TRUTH[int(Path(data["source-ref"]).stem.split("-")[1])]
        dx, dy = jitter[worker]
        boxes = [{"label": label, "left": left + dx, "top": top + dy, "width": width, "height": height}
                 for label, left, top, width, height in scene]
        if worker == WORKERS[2] and scene and scene[0][0] == "person" and len(scene) == 1:
            boxes.append({"label": "car", "left": IMAGE_W - 10, "top": 5, "width": 40, "height": 10})  # off the image
        if worker == WORKERS[1] and len(scene) == 2:
            boxes.append({"label": "car", "left": 90, "top": 60, "width": 10, "height": 10})     # a spurious box
        return {"boundingBoxes": boxes, "inputImageProperties": {"width": IMAGE_W, "height": IMAGE_H}}

    assert _answer_all(market, draw) == 3 * len(BOX_TRUTH)
    _run_to_completion(engine, settings, job_id)

    with Session(engine) as session:
        flagged = session.exec(select(Assignment).where(Assignment.answer_error != None)).all()  # noqa: E711
        statuses = {o.status for o in session.exec(select(DataObject))}
    assert len(flagged) == 1 and flagged[0].worker_id == WORKERS[2]
    assert "boundingBoxes[1]" in flagged[0].answer_error and "outside the 120x80 image" in flagged[0].answer_error
    assert flagged[0].chosen_json is None and "boundingBoxes" in flagged[0].answer_json   # kept, not used
    assert flagged[0].review_status == ReviewStatus.APPROVED and statuses == {ObjectStatus.CONSOLIDATED}

    lines = _output(tmp_path, "bounding-box-job")
    assert [line["scene"] for line in lines] == list(range(len(BOX_TRUTH)))
    for line, truth in zip(lines, BOX_TRUTH):
        value, metadata = line["bb"], line["bb-metadata"]
        assert value["image_size"] == [{"width": IMAGE_W, "height": IMAGE_H, "depth": 3}]
        got = sorted((metadata["class-map"][str(a["class_id"])], a["left"], a["top"], a["width"], a["height"])
                     for a in value["annotations"])
        assert len(got) == len(truth)        # the spurious and the flagged box are gone
        for (label, *box), (true_label, *true_box) in zip(got, sorted(truth)):
            assert label == true_label and max(abs(a - b) for a, b in zip(box, true_box)) <= 2
        assert len(metadata["objects"]) == len(value["annotations"])
        assert all(0 < o["confidence"] <= 1 for o in metadata["objects"])
        assert set(metadata["class-map"].values()) == {label for label, *_ in truth}
        assert metadata["type"] == "groundtruth/object-detection" and metadata["human-annotated"] == "yes"
        assert metadata["job-name"] == "labeling-job/bounding-box-job"
    # the flagged answer is still in its worker-response file
    responses = list((tmp_path / "output" / "bounding-box-job" / "annotations" / "worker-response").rglob("*.json"))
    answers = [a for path in responses for a in json.loads(path.read_text())["answers"]]
    assert len(answers) == 3 * len(BOX_TRUTH)
    assert sum(len(a["answerContent"]["crowd-bounding-box"]["boundingBoxes"]) for a in answers) == \
        3 * sum(map(len, BOX_TRUTH)) + 2


def test_named_entity_job_consolidates_spans_and_flags_a_span_past_the_text(tmp_path, market, settings, engine):
    manifest = tmp_path / "input.manifest"
    manifest.write_text("".join(json.dumps({"source": text}) + "\n" for text, _ in SENTENCES))
    spec_path = _spec(tmp_path, "named-entity-recognition", ["person", "place"], manifest, "ner")
    job_id = submit_job(spec_path, engine, settings).job_id
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []
    truth = dict(SENTENCES)

    def mark(data: dict, worker: str) -> dict:
        text = data["source"]
        entities = [{"label": label, "startOffset": start, "endOffset": end} for label, start, end in truth[text]]
        if worker == WORKERS[0] and entities:
            entities[0]["endOffset"] -= 1                       # one worker clips a boundary: outvoted
        if worker == WORKERS[1] and text.startswith("Nothing"):
            entities.append({"label": "place", "startOffset": 8, "endOffset": 40})   # past the end
        return {"entities": entities}

    assert _answer_all(market, mark) == 3 * len(SENTENCES)
    _run_to_completion(engine, settings, job_id)

    with Session(engine) as session:
        flagged = session.exec(select(Assignment).where(Assignment.answer_error != None)).all()  # noqa: E711
    assert len(flagged) == 1 and "past the text's end (13 characters)" in flagged[0].answer_error
    for line in _output(tmp_path, "named-entity-recognition-job"):
        value, metadata = line["ner"], line["ner-metadata"]
        assert value["annotations"]["labels"] == [{"label": "person"}, {"label": "place"}]
        got = [(e["label"], e["startOffset"], e["endOffset"]) for e in value["annotations"]["entities"]]
        assert sorted(got) == sorted(truth[line["source"]])
        assert len(metadata["entities"]) == len(got) and metadata["type"] == "groundtruth/text-span"
