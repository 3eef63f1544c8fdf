"""Bounding-box and named-entity jobs through the engine: HITs on the embedded marketplace,
answers checked at collection (bad ones kept and flagged), consolidation through scoring, and
Ground Truth's object-detection and text-span output layouts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus, ObjectStatus, ReviewStatus
from broker.stages.submit import submit_job
from broker.store.jobs import job_spec
from broker.store.tables import Assignment, DataObject, Job
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
    spec = {
        "job_name": f"{task_type}-job",
        "label_attribute_name": attribute,
        "task_type": task_type,
        "labels": labels,
        "input_manifest": str(manifest),
        "output": str(folder / "output"),
        "workers_per_object": 3,
        "reward": "0.08",
        "title": "Mark the objects",
        "description": "Mark every object.",
        "lifetime_seconds": 3600,
        "assignment_duration_seconds": 600,
        "auto_approval_delay_seconds": 86400,
    }
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
        boxes = [
            {"label": label, "left": left + dx, "top": top + dy, "width": width, "height": height}
            for label, left, top, width, height in scene
        ]
        if worker == WORKERS[2] and scene and scene[0][0] == "person" and len(scene) == 1:
            boxes.append({"label": "car", "left": IMAGE_W - 10, "top": 5, "width": 40, "height": 10})  # off the image
        if worker == WORKERS[1] and len(scene) == 2:
            boxes.append({"label": "car", "left": 90, "top": 60, "width": 10, "height": 10})  # a spurious box
        return {"boundingBoxes": boxes, "inputImageProperties": {"width": IMAGE_W, "height": IMAGE_H}}

    assert _answer_all(market, draw) == 3 * len(BOX_TRUTH)
    _run_to_completion(engine, settings, job_id)

    with Session(engine) as session:
        flagged = session.exec(select(Assignment).where(Assignment.answer_error != None)).all()  # noqa: E711
        statuses = {o.status for o in session.exec(select(DataObject))}
    assert len(flagged) == 1 and flagged[0].worker_id == WORKERS[2]
    assert "boundingBoxes[1]" in flagged[0].answer_error and "outside the 120x80 image" in flagged[0].answer_error
    assert flagged[0].chosen_json is None and "boundingBoxes" in flagged[0].answer_json  # kept, not used
    assert flagged[0].review_status == ReviewStatus.APPROVED and statuses == {ObjectStatus.CONSOLIDATED}

    lines = _output(tmp_path, "bounding-box-job")
    assert [line["scene"] for line in lines] == list(range(len(BOX_TRUTH)))
    for line, truth in zip(lines, BOX_TRUTH):
        value, metadata = line["bb"], line["bb-metadata"]
        assert value["image_size"] == [{"width": IMAGE_W, "height": IMAGE_H, "depth": 3}]
        got = sorted(
            (metadata["class-map"][str(a["class_id"])], a["left"], a["top"], a["width"], a["height"])
            for a in value["annotations"]
        )
        assert len(got) == len(truth)  # the spurious and the flagged box are gone
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
    assert (
        sum(len(a["answerContent"]["crowd-bounding-box"]["boundingBoxes"]) for a in answers)
        == 3 * sum(map(len, BOX_TRUTH)) + 2
    )


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
            entities[0]["endOffset"] -= 1  # one worker clips a boundary: outvoted
        if worker == WORKERS[1] and text.startswith("Nothing"):
            entities.append({"label": "place", "startOffset": 8, "endOffset": 40})  # past the end
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


SEG_LABELS = ["road", "car"]
SEG_COLORS = {"road": "#1f77b4", "car": "#ff7f0e"}  # the element's palette, in label order
SEG_W, SEG_H = 40, 30


def _true_mask(i: int):
    """Class ids per pixel: road along the bottom, a car whose place depends on the image."""
    import numpy as np

    ids = np.zeros((SEG_H, SEG_W), dtype=np.uint8)
    ids[20:, :] = 1
    ids[8 + i : 16 + i, 5 + 6 * i : 17 + 6 * i] = 2
    return ids


def _mask_answer(ids, mappings: dict | None = None) -> dict:
    import base64
    import io

    import numpy as np
    from PIL import Image

    palette = np.array([(255, 255, 255), (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(palette[ids], "RGB").save(buffer, format="PNG")
    return {
        "labeledImage": {"pngImageData": base64.b64encode(buffer.getvalue()).decode()},
        "labelMappings": mappings or {label: {"color": SEG_COLORS[label]} for label in SEG_LABELS},
        "inputImageProperties": {"width": int(ids.shape[1]), "height": int(ids.shape[0])},
    }


def test_semantic_segmentation_job_writes_consolidated_pngs_and_flags_an_empty_mask(tmp_path, market, settings, engine):
    import numpy as np
    from PIL import Image

    from scoring import label_mask_from_rgb, mask_iou

    (tmp_path / "images").mkdir()
    lines = []
    for i in range(3):
        path = tmp_path / "images" / f"street-{i}.png"
        Image.new("RGB", (SEG_W, SEG_H), "gray").save(path)
        lines.append(json.dumps({"source-ref": str(path)}))
    manifest = tmp_path / "input.manifest"
    manifest.write_text("\n".join(lines) + "\n")
    spec = yaml.safe_load(_spec(tmp_path, "semantic-segmentation", SEG_LABELS, manifest, "unused").read_text())
    del spec["label_attribute_name"]  # defaults to <job name>-ref, as Ground Truth requires
    spec_path = tmp_path / "seg.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    job_id = submit_job(spec_path, engine, settings).job_id
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []

    def paint(data: dict, worker: str) -> dict:
        i = int(Path(data["source-ref"]).stem.split("-")[1])
        ids = _true_mask(i)
        if worker == WORKERS[0]:
            ids = ids.copy()
            ids[:, :3] = 0  # sloppy at the left edge: outvoted
        if worker == WORKERS[2] and i == 1:
            ids = np.zeros_like(ids)  # nothing painted: flagged
        return _mask_answer(ids)

    assert _answer_all(market, paint) == 9
    _run_to_completion(engine, settings, job_id)

    with Session(engine) as session:
        flagged = session.exec(select(Assignment).where(Assignment.answer_error != None)).all()  # noqa: E711
        assert job_spec(session.get(Job, job_id)).label_attribute_name == "semantic-segmentation-job-ref"
    assert len(flagged) == 1 and "the mask is empty" in flagged[0].answer_error
    assert flagged[0].review_status == ReviewStatus.APPROVED and "pngImageData" in flagged[0].answer_json

    out = tmp_path / "output" / "semantic-segmentation-job"
    for i, line in enumerate(_output(tmp_path, "semantic-segmentation-job")):
        uri, metadata = line["semantic-segmentation-job-ref"], line["semantic-segmentation-job-ref-metadata"]
        assert Path(uri).parent == out / "annotations" / "consolidated-annotation" / "output"
        assert Path(uri).name.startswith(f"{i}_") and Path(uri).suffix == ".png"
        assert metadata["type"] == "groundtruth/semantic-segmentation" and metadata["human-annotated"] == "yes"
        color_map = metadata["internal-color-map"]
        assert [color_map[k]["class-name"] for k in ("0", "1", "2")] == ["BACKGROUND", "road", "car"]
        assert [color_map[k]["hex-color"] for k in ("0", "1", "2")] == ["#ffffff", "#1f77b4", "#ff7f0e"]
        assert len({entry["confidence"] for entry in color_map.values()}) == 1  # one confidence per image
        assert 0.5 < color_map["0"]["confidence"] <= 1
        with Image.open(uri) as image:
            colors = [
                tuple(int(c[j : j + 2], 16) for j in (1, 3, 5)) for c in (e["hex-color"] for e in color_map.values())
            ]
            ids = label_mask_from_rgb(np.asarray(image.convert("RGB")), colors)
        assert mask_iou(ids, _true_mask(i), 3) >= 0.95
    # a forced second pass over the same answers rewrites no PNG (named by content, written on change)
    from broker.stages.consolidate import ConsolidateReport, consolidate_job

    pngs = {
        path: path.stat().st_mtime_ns
        for path in (out / "annotations" / "consolidated-annotation" / "output").glob("*.png")
    }
    assert len(pngs) == 3
    for path in pngs:
        os.utime(path, ns=(1, 1))
    with Session(engine) as session:
        job = session.get(Job, job_id)
    consolidate_job(engine, settings, job, ConsolidateReport(), now=datetime.now(UTC))
    assert {path: path.stat().st_mtime_ns for path in pngs} == dict.fromkeys(pngs, 1)
    assert sorted((out / "annotations" / "consolidated-annotation" / "output").glob("*.png")) == sorted(pngs)


def test_segmentation_spec_rules(tmp_path):
    from broker.spec import SpecError, load_job_spec

    manifest = tmp_path / "in.manifest"
    manifest.write_text('{"source-ref": "a.png"}\n')
    spec_path = _spec(tmp_path, "semantic-segmentation", ["a"], manifest, "city")
    try:
        load_job_spec(spec_path)
        raise AssertionError("accepted a segmentation label attribute without -ref")
    except SpecError as error:
        assert "label_attribute_name" in str(error) and "must end in -ref" in str(error)
    spec = yaml.safe_load(spec_path.read_text()) | {
        "label_attribute_name": "city-ref",
        "labels": [f"class{i}" for i in range(11)],
    }
    spec_path.write_text(yaml.safe_dump(spec))
    try:
        load_job_spec(spec_path)
        raise AssertionError("accepted 11 segmentation labels")
    except SpecError as error:
        assert "at most 10 labels" in str(error)
    box = _spec(tmp_path, "bounding-box", ["a"], manifest, "boxes-ref")
    try:
        load_job_spec(box)
        raise AssertionError("accepted -ref on a box job")
    except SpecError as error:
        assert "only semantic segmentation" in str(error)


def test_bounding_box_adjustment_job_corrects_earlier_boxes_and_writes_adjustment_status(
    tmp_path, market, settings, engine
):
    from broker.spec import SubmitError

    (tmp_path / "images").mkdir()
    earlier = [  # the earlier job's boxes: scene 0 is right, scene 1's car is off by 8 px
        [(0, 10, 10, 40, 30)],
        [(0, 13, 48, 30, 25), (1, 70, 8, 20, 60)],
    ]
    corrected = [[("car", 10, 10, 40, 30)], [("car", 5, 40, 30, 25), ("person", 70, 8, 20, 60)]]
    lines = []
    for i, boxes in enumerate(earlier):
        path = tmp_path / "images" / f"scene-{i}.png"
        _blank_image(path)
        lines.append(
            {
                "source-ref": str(path),
                "bb": {
                    "image_size": [{"width": IMAGE_W, "height": IMAGE_H, "depth": 3}],
                    "annotations": [
                        {"class_id": c, "left": x, "top": y, "width": w, "height": h} for c, x, y, w, h in boxes
                    ],
                },
                "bb-metadata": {
                    "objects": [{"confidence": 0.9}] * len(boxes),
                    "class-map": {"0": "car", "1": "person"},
                    "type": "groundtruth/object-detection",
                },
            }
        )
    manifest = tmp_path / "input.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines) + json.dumps({"source-ref": "x.png"}) + "\n")
    spec = yaml.safe_load(
        _spec(tmp_path, "bounding-box-adjustment", ["car", "person"], manifest, "bb-adjusted").read_text()
    ) | {"adjustment": {"label_attribute": "bb"}}
    spec_path = tmp_path / "adjust.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    try:  # a line without the boxes to adjust: nothing is submitted, the error names line and field
        submit_job(spec_path, engine, settings)
        raise AssertionError("submitted a line without boxes")
    except SubmitError as error:
        assert "input.manifest:3: bb: data object has no object-detection output 'bb'" in str(error)
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    job_id = submit_job(spec_path, engine, settings).job_id
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []

    def adjust(data: dict, worker: str) -> dict:
        i = int(Path(data["source-ref"]).stem.split("-")[1])
        boxes = [{"label": label, "left": x, "top": y, "width": w, "height": h} for label, x, y, w, h in corrected[i]]
        return {
            "boundingBoxes": boxes,
            "inputImageProperties": {"width": IMAGE_W, "height": IMAGE_H},
            "initialValueModified": i == 1,
        }

    assert _answer_all(market, adjust) == 6
    _run_to_completion(engine, settings, job_id)
    out = _output(tmp_path, "bounding-box-adjustment-job")
    assert [line["bb-adjusted-metadata"]["adjustment-status"] for line in out] == ["unadjusted", "adjusted"]
    for line, truth in zip(out, corrected):
        got = sorted(
            (
                line["bb-adjusted-metadata"]["class-map"][str(a["class_id"])],
                a["left"],
                a["top"],
                a["width"],
                a["height"],
            )
            for a in line["bb-adjusted"]["annotations"]
        )
        assert got == sorted(truth)
        assert line["bb-adjusted-metadata"]["type"] == "groundtruth/object-detection"
        assert line["bb"]["annotations"] and "bb-metadata" in line  # the earlier label is kept as it was


def _blank_image(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (IMAGE_W, IMAGE_H), "white").save(path)
