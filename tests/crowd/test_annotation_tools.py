"""Bots answer the annotation tools in each element's exact shape, deterministically, and good
workers land measurably closer to the truth than spammers. Pages are rendered with broker.templates
and read back the way a bot reads them (parse_page -> crowd-task-input block)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from broker.marketplace.crowd import masks, spans
from broker.marketplace.crowd.answers import TaskInput, element_answer, task_input_from_block
from broker.marketplace.crowd.models import WorkerModelSpec
from broker.marketplace.crowd.pages import parse_page
from broker.marketplace.crowd.shapes import box_iou
from broker.marketplace.crowd.truth import TruthFileError, load_truth
from broker.templates import build_task_input, build_verification_task_input, builtin_template_source, render_task_html

GOOD = WorkerModelSpec("good", accuracy=0.95, box_jitter=0.03, miss_rate=0.03)
SLOPPY = WorkerModelSpec("sloppy", accuracy=0.7, box_jitter=0.1, miss_rate=0.2)
SPAMMER = WorkerModelSpec("spammer", accuracy=0.0, box_jitter=0.3, miss_rate=0.5)
LABELS = ["car", "person", "tree"]
SIZE = {"width": 200, "height": 120}
BOXES = [
    {"label": "car", "left": 20, "top": 30, "width": 60, "height": 40},
    {"label": "tree", "left": 120, "top": 10, "width": 50, "height": 90},
]
N_OBJECTS = 40


def grant(uri: str) -> str:
    return "https://bucket.s3.amazonaws.com/" + uri.split("/", 3)[-1]


def render(
    task_type: str, data_object: dict[str, Any], labels: list[str] = LABELS, template: str | None = None, **extra: Any
) -> TaskInput:
    """A built-in (or custom) page for one object, read back as a bot reads it."""
    task_input = build_task_input(
        task_type,
        data_object,
        labels=labels,
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
        **extra,
    )
    html = render_task_html(
        template or builtin_template_source(task_type),
        task_input,
        task_type=task_type,
        data_object=data_object,
        grant_read_access=grant,
    )
    block = parse_page(html).task_input
    assert block is not None, "the page has no crowd-task-input block"
    return task_input_from_block(block)


def answers_for(
    spec: WorkerModelSpec, pages: list[TaskInput], truth: dict[str, Any], worker: int, seed: int = 3
) -> list[Any]:
    return [element_answer(spec, page, truth.get(page.key), seed, worker, truth_table=truth) for page in pages]


def image_pages(task_type: str, template: str | None = None, **extra: Any) -> tuple[list[TaskInput], dict[str, Any]]:
    objects = [{"source-ref": f"s3://bucket/street-{i}.png"} for i in range(N_OBJECTS)]
    pages = [render(task_type, o, template=template, **extra) for o in objects]
    truth = {o["source-ref"]: {"boundingBoxes": BOXES, **SIZE} for o in objects}
    return pages, truth


def best_iou(answer_boxes: list[dict[str, Any]], true_box: dict[str, Any]) -> float:
    if not answer_boxes:
        return 0.0
    given = np.array([[b["left"], b["top"], b["width"], b["height"]] for b in answer_boxes], dtype=float)
    true = np.array([[true_box[k] for k in ("left", "top", "width", "height")]], dtype=float)
    return float(box_iou(true, given).max())


def mean_box_iou(answers: list[dict[str, Any]]) -> float:
    return float(np.mean([best_iou(a["boundingBoxes"], t) for a in answers for t in BOXES]))


# --- bounding boxes ---------------------------------------------------------------------------


def test_bounding_box_answers_have_the_element_shape_and_good_workers_beat_spammers() -> None:
    pages, truth = image_pages("bounding-box")
    assert pages[0].element == "crowd-bounding-box" and pages[0].labels == LABELS
    good = answers_for(GOOD, pages, truth, worker=1)
    for answer in good:
        assert set(answer) == {"boundingBoxes", "inputImageProperties"}
        assert answer["inputImageProperties"] == {"height": 120, "width": 200}
        for box in answer["boundingBoxes"]:
            assert set(box) == {"label", "left", "top", "width", "height"}
            assert all(isinstance(box[k], int) for k in ("left", "top", "width", "height"))
            assert box["label"] in LABELS and box["left"] + box["width"] <= 200 and box["top"] + box["height"] <= 120
    assert good == answers_for(GOOD, pages, truth, worker=1)  # same (seed, worker, object) -> same answer
    assert good != answers_for(GOOD, pages, truth, worker=2)
    good_iou, sloppy_iou = mean_box_iou(good), mean_box_iou(answers_for(SLOPPY, pages, truth, worker=3))
    spam_iou = mean_box_iou(answers_for(SPAMMER, pages, truth, worker=4))
    assert good_iou > 0.8 > sloppy_iou > spam_iou and spam_iou < 0.25


def test_adjustment_pages_start_from_the_initial_boxes_and_fix_them() -> None:
    wrong = [
        {"class_id": 0, "left": 35, "top": 40, "width": 60, "height": 40},  # the car, shifted
        {"class_id": 1, "left": 150, "top": 80, "width": 30, "height": 30},
    ]  # a person that is not there
    data_object = {
        "source-ref": "s3://bucket/street.png",
        "prior": {"annotations": wrong},
        "prior-metadata": {"class-map": {"0": "car", "1": "person"}},
    }
    objects = [dict(data_object, **{"source-ref": f"s3://bucket/street-{i}.png"}) for i in range(N_OBJECTS)]
    pages = [render("bounding-box-adjustment", o, initial_value_attribute="prior") for o in objects]
    assert len(pages[0].task_input["initialValue"]) == 2
    truth = {o["source-ref"]: {"boundingBoxes": BOXES, **SIZE} for o in objects}
    good = answers_for(GOOD, pages, truth, worker=1)
    spam = answers_for(SPAMMER, pages, truth, worker=4)
    assert all(set(a) == {"boundingBoxes", "inputImageProperties", "initialValueModified"} for a in good + spam)
    assert np.mean([a["initialValueModified"] for a in good]) > 0.9
    # spammers submit the page as it came: the initial boxes, unmodified
    initial = sorted(
        (b["label"], b["left"], b["top"], b["width"], b["height"])
        for b in [
            {"label": "car", **{k: wrong[0][k] for k in ("left", "top", "width", "height")}},
            {"label": "person", **{k: wrong[1][k] for k in ("left", "top", "width", "height")}},
        ]
    )
    assert all(not a["initialValueModified"] for a in spam)
    assert all(
        sorted(tuple(b[k] for k in ("label", "left", "top", "width", "height")) for b in a["boundingBoxes"]) == initial
        for a in spam
    )
    assert mean_box_iou(good) > 0.8 > mean_box_iou(spam)
    assert np.mean([any(b["label"] == "person" for b in a["boundingBoxes"]) for a in good]) < 0.15  # false box deleted


# --- polygons and keypoints -------------------------------------------------------------------

POLYGON_TEMPLATE = """<crowd-form><crowd-polygon name="outline" src="{{ task.input.taskObject | grant_read_access }}"
 labels='["car", "person", "tree"]'></crowd-polygon></crowd-form>"""
KEYPOINT_TEMPLATE = POLYGON_TEMPLATE.replace("crowd-polygon", "crowd-keypoint").replace("outline", "points")


def polygon_iou(vertices: list[dict[str, int]], box: dict[str, Any]) -> float:
    """IoU of a polygon and a box, rasterised on the 200 x 120 image."""
    shape, rect = Image.new("1", (200, 120)), Image.new("1", (200, 120))
    ImageDraw.Draw(shape).polygon([(v["x"], v["y"]) for v in vertices], fill=1)
    ImageDraw.Draw(rect).rectangle(
        [box["left"], box["top"], box["left"] + box["width"] - 1, box["top"] + box["height"] - 1], fill=1
    )
    a, b = np.asarray(shape, dtype=bool), np.asarray(rect, dtype=bool)
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_polygon_answers_are_jittered_box_corners() -> None:
    pages, truth = image_pages("custom", template=POLYGON_TEMPLATE)
    assert (pages[0].element, pages[0].name, pages[0].labels) == ("crowd-polygon", "outline", LABELS)

    def score(answers: list[dict[str, Any]]) -> float:
        return float(
            np.mean(
                [
                    max((polygon_iou(p["vertices"], t) for p in a["polygons"]), default=0.0)
                    for a in answers
                    for t in BOXES
                ]
            )
        )

    good = answers_for(GOOD, pages, truth, worker=1)
    for answer in good:
        assert set(answer) == {"polygons", "inputImageProperties"}
        for polygon in answer["polygons"]:
            assert set(polygon) == {"label", "vertices"} and len(polygon["vertices"]) == 4
            assert all(set(v) == {"x", "y"} and isinstance(v["x"], int) for v in polygon["vertices"])
    assert good == answers_for(GOOD, pages, truth, worker=1)
    assert score(good) > 0.75 > score(answers_for(SPAMMER, pages, truth, worker=4))


def test_keypoint_answers_are_jittered_box_centres_or_given_points() -> None:
    pages, truth = image_pages("custom", template=KEYPOINT_TEMPLATE)
    centres = np.array([[b["left"] + b["width"] / 2, b["top"] + b["height"] / 2] for b in BOXES])

    def distance(answers: list[dict[str, Any]]) -> float:
        out = []
        for a in answers:
            given = np.array([[k["x"], k["y"]] for k in a["keypoints"]], dtype=float).reshape(-1, 2)
            for c in centres:
                out.append(np.min(np.hypot(*(given - c).T)) if len(given) else 200.0)
        return float(np.mean(out))

    good = answers_for(GOOD, pages, truth, worker=1)
    assert all(set(a) == {"keypoints", "inputImageProperties"} for a in good)
    assert all(set(k) == {"label", "x", "y"} for a in good for k in a["keypoints"])
    assert distance(good) < 5 and distance(answers_for(SPAMMER, pages, truth, worker=4)) > 25
    explicit = {k: dict(v, keypoints=[{"label": "person", "x": 7, "y": 9}]) for k, v in truth.items()}
    points = [k for a in answers_for(GOOD, pages, explicit, worker=1) for k in a["keypoints"]]
    assert points and all(k["label"] == "person" or k["label"] in LABELS for k in points)
    assert np.median([abs(k["x"] - 7) + abs(k["y"] - 9) for k in points]) < 4


# --- semantic segmentation --------------------------------------------------------------------


def true_map() -> np.ndarray:
    out = np.zeros((120, 200), dtype=np.uint8)
    for box in BOXES:
        out[box["top"] : box["top"] + box["height"], box["left"] : box["left"] + box["width"]] = (
            LABELS.index(box["label"]) + 1
        )
    return out


def test_segmentation_answers_paint_a_png_in_the_element_colours(tmp_path: Path) -> None:
    objects = [{"source-ref": f"s3://bucket/street-{i}.png"} for i in range(12)]
    pages = [render("semantic-segmentation", o) for o in objects]
    assert pages[0].element == "crowd-semantic-segmentation"
    truth = {o["source-ref"]: {"regions": BOXES, **SIZE} for o in objects}
    good = answers_for(GOOD, pages, truth, worker=1)
    for answer in good:
        assert set(answer) == {"labeledImage", "labelMappings", "inputImageProperties"}
        assert answer["labelMappings"] == {
            "car": {"color": "#1f77b4"},
            "person": {"color": "#ff7f0e"},
            "tree": {"color": "#2ca02c"},
        }
        image = Image.open(io.BytesIO(base64.b64decode(answer["labeledImage"]["pngImageData"])))
        assert image.format == "PNG" and image.size == (200, 120)
        colours = {c for _, c in image.convert("RGB").getcolors()}
        assert colours <= {(255, 255, 255), (31, 119, 180), (255, 127, 14), (44, 160, 44)}  # no blending
    assert good == answers_for(GOOD, pages, truth, worker=1)

    def agreement(answers: list[dict[str, Any]]) -> float:
        maps = [masks.decode_png(a["labeledImage"]["pngImageData"], LABELS) for a in answers]
        return float(np.mean([(m == true_map()).mean() for m in maps]))

    good_agreement = agreement(good)
    assert 0.9 < good_agreement < 1.0  # boundary noise, not a copy of the truth
    assert (
        good_agreement
        > agreement(answers_for(SLOPPY, pages, truth, worker=3))
        > agreement(answers_for(SPAMMER, pages, truth, worker=4)) - 0.05
    )
    assert good_agreement - agreement(answers_for(SPAMMER, pages, truth, worker=4)) > 0.2

    # the same truth as a PNG mask with its own colours, path relative to the truth file
    colours = {"car": "#aa0000", "tree": "#00aa00"}
    mask = np.full((120, 200, 3), 0, dtype=np.uint8)
    for index, label in ((1, "car"), (3, "tree")):
        mask[true_map() == index] = masks.rgb(colours[label])
    Image.fromarray(mask).save(tmp_path / "street.png")
    (tmp_path / "truth.jsonl").write_text(
        json.dumps(
            {
                "source-ref": objects[0]["source-ref"],
                "mask": "street.png",
                "labelMappings": {k: {"color": v} for k, v in colours.items()},
            }
        )
    )
    from_png = load_truth(tmp_path / "truth.jsonl")
    assert agreement(answers_for(GOOD, pages[:1], from_png, worker=1)) > 0.9
    (tmp_path / "bad.jsonl").write_text(json.dumps({"source-ref": "s3://x", "mask": "missing.png"}) + "\n")
    with pytest.raises(TruthFileError, match=r"bad.jsonl:1: mask file 'missing.png' not found"):
        load_truth(tmp_path / "bad.jsonl")


# --- entity annotation ------------------------------------------------------------------------

TEXT = "Ada Lovelace met Charles Babbage in London on 5 June 1833, at the Royal Society."
ENTITIES = [
    {"label": "person", "startOffset": 0, "endOffset": 12},
    {"label": "person", "startOffset": 17, "endOffset": 32},
    {"label": "place", "startOffset": 36, "endOffset": 42},
    {"label": "org", "startOffset": 66, "endOffset": 79},
]
NER_LABELS = ["person", "place", "org", "date"]


def test_entity_answers_have_the_element_shape_and_good_workers_score_higher_f1() -> None:
    assert [TEXT[e["startOffset"] : e["endOffset"]] for e in ENTITIES] == [
        "Ada Lovelace",
        "Charles Babbage",
        "London",
        "Royal Society",
    ]
    objects = [{"source": f"{TEXT} (#{i})"} for i in range(N_OBJECTS)]
    pages = [render("named-entity-recognition", o, labels=NER_LABELS) for o in objects]
    assert pages[0].element == "crowd-entity-annotation" and pages[0].labels == NER_LABELS
    truth = {o["source"]: {"entities": ENTITIES} for o in objects}
    good = answers_for(GOOD, pages, truth, worker=1)
    for answer, page in zip(good, pages):
        assert set(answer) == {"entities"}
        text = page.task_input["taskObject"]
        ends = [0]
        for entity in answer["entities"]:
            assert set(entity) == {"label", "startOffset", "endOffset"} and entity["label"] in NER_LABELS
            assert ends[-1] <= entity["startOffset"] < entity["endOffset"] <= len(text)  # sorted, no overlaps
            span = text[entity["startOffset"] : entity["endOffset"]]
            assert span == span.strip() and span
            ends.append(entity["endOffset"])
    assert good == answers_for(GOOD, pages, truth, worker=1)

    def f1(answers: list[dict[str, Any]]) -> float:
        return float(np.mean([spans.span_f1(a["entities"], ENTITIES) for a in answers]))

    sloppy = answers_for(SLOPPY, pages, truth, worker=3)
    assert f1(good) > 0.8 > f1(sloppy) > f1(answers_for(SPAMMER, pages, truth, worker=4))
    near_misses = [
        e
        for a in sloppy
        for e in a["entities"]
        if (e["startOffset"], e["endOffset"]) not in {(t["startOffset"], t["endOffset"]) for t in ENTITIES}
    ]
    assert near_misses  # boundary errors happen, and they are one token off
    assert all(
        any(abs(e["startOffset"] - t["startOffset"]) + abs(e["endOffset"] - t["endOffset"]) <= 12 for t in ENTITIES)
        for e in near_misses
    )


# --- label verification -----------------------------------------------------------------------


def verification_pages(n_pages: int, size: int = 10) -> tuple[list[TaskInput], dict[str, Any], dict[str, bool]]:
    pages, truth, fits = [], {}, {}
    for p in range(n_pages):
        objects = [{"source-ref": f"s3://bucket/pet-{p}-{i}.jpg"} for i in range(size)]
        task_input = build_verification_task_input(
            objects,
            [f"p{p}-{i}" for i in range(size)],
            label="cat",
            header="",
            short_instructions="",
            full_instructions="",
            good_examples=[],
            bad_examples=[],
        )
        html = render_task_html(
            builtin_template_source("label-verification"),
            task_input,
            task_type="label-verification",
            data_object={},
            grant_read_access=grant,
        )
        pages.append(task_input_from_block(parse_page(html).task_input))
        for i, o in enumerate(objects):
            truth[o["source-ref"]] = "cat" if i % 3 else "dog"  # the item's true label
            fits[f"p{p}-{i}"] = bool(i % 3)
    return pages, truth, fits


def test_verification_answers_list_every_item_and_good_workers_uncheck_wrong_ones() -> None:
    pages, truth, fits = verification_pages(8)
    assert pages[0].element == "crowd-label-verification" and len(pages[0].data_objects) == 10
    assert pages[0].key != pages[1].key  # a batch has its own identity for time and returns

    def accuracy(answers: list[dict[str, Any]]) -> float:
        return float(np.mean([item["correct"] == fits[item["id"]] for a in answers for item in a["items"]]))

    good = answers_for(GOOD, pages, truth, worker=1)
    for answer, page in zip(good, pages):
        assert set(answer) == {"label", "items"} and answer["label"] == "cat"
        assert [i["id"] for i in answer["items"]] == [o["id"] for o in page.data_objects]
        assert all(set(i) == {"id", "correct"} and isinstance(i["correct"], bool) for i in answer["items"])
    assert good == answers_for(GOOD, pages, truth, worker=1)
    spammers = [answers_for(SPAMMER, pages, truth, worker=w) for w in range(4, 12)]
    lazy = [s for s in spammers if all(i["correct"] for a in s for i in a["items"])]
    assert lazy and len(lazy) < len(spammers)  # some leave everything checked, the rest click at random
    assert (
        accuracy(good)
        > 0.9
        > accuracy(answers_for(SLOPPY, pages, truth, worker=3))
        > max(accuracy(s) for s in spammers) - 0.1
    )
    assert accuracy(good) - max(accuracy(s) for s in spammers) > 0.2
    verdicts = {k: {"correct": fits[f"p0-{k.rsplit('-', 1)[1].split('.')[0]}"]} for k in truth if "pet-0-" in k}
    assert accuracy(answers_for(GOOD, pages[:1], verdicts, worker=1)) > 0.8  # truth as {"correct": bool}


# --- end to end: the crowd works rendered tool pages on the marketplace -------------------------


def test_crowd_submits_tool_answers_through_the_worker_site(tmp_path: Path) -> None:
    from broker.marketplace.config import MarketplaceConfig
    from broker.marketplace.crowd import run_crowd
    from broker.marketplace.server import start_in_thread

    from .crowd_helpers import TIME_SCALE, html_question, publish, task_answers

    image = tmp_path / "street.png"
    Image.new("RGB", (160, 90)).save(image)
    local = lambda uri: f"/local-files{image}"  # noqa: E731 - the served image, whatever the URI

    def page(task_type: str, data_object: dict[str, Any], labels: list[str]) -> str:
        task_input = build_task_input(
            task_type,
            data_object,
            labels=labels,
            header="",
            short_instructions="",
            full_instructions="",
            good_examples=[],
            bad_examples=[],
        )
        return render_task_html(
            builtin_template_source(task_type),
            task_input,
            task_type=task_type,
            data_object=data_object,
            grant_read_access=local,
        )

    batch = [{"source": "a purring cat"}, {"source": "a barking dog"}]
    verify_input = build_verification_task_input(
        batch,
        ["v0", "v1"],
        label="cat",
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    pages = [
        page("semantic-segmentation", {"source-ref": "s3://b/street.png"}, ["car", "road"]),
        page("named-entity-recognition", {"source": TEXT}, NER_LABELS),
        render_task_html(
            builtin_template_source("label-verification"),
            verify_input,
            task_type="label-verification",
            data_object={},
            grant_read_access=local,
        ),
    ]
    assert all(len(html_question(p)) < 65_535 for p in pages)
    truth = {
        "s3://b/street.png": {"regions": [{"label": "car", "left": 10, "top": 10, "width": 60, "height": 40}]},
        TEXT: {"entities": ENTITIES},
        "a purring cat": "cat",
        "a barking dog": "dog",
    }
    with start_in_thread(
        MarketplaceConfig(db_path=":memory:", time_scale=TIME_SCALE, file_roots=[str(tmp_path)])
    ) as running:
        client = running.client()
        _, hit_ids = publish(client, pages, reward="1.00", assignments=2, title="Annotate")
        stats = run_crowd(
            running.worker_site_url,
            n_workers=2,
            seed=5,
            truth=truth,
            mix="good=1",
            time_scale=TIME_SCALE,
            idle_seconds=0.5,
            concurrency=2,
        )
        assert stats.assignments_submitted == 6 and stats.error_count == 0, stats.errors
        rows = task_answers(client, hit_ids)
    by_hit: dict[str, list[dict[str, Any]]] = {h: [] for h in hit_ids}
    for row in rows:
        [answer] = json.loads(row["fields"]["taskAnswers"][0])
        by_hit[row["hit"]].append(answer)
    for answer in by_hit[hit_ids[0]]:  # size from the image the page loads; the truth region painted
        painted = masks.decode_png(
            answer["crowd-semantic-segmentation"]["labeledImage"]["pngImageData"], ["car", "road"]
        )
        assert answer["crowd-semantic-segmentation"]["inputImageProperties"] == {"height": 90, "width": 160}
        assert (painted[10:50, 10:70] == 1).mean() > 0.8 and (painted[60:, 100:] == 0).all()
    for answer in by_hit[hit_ids[1]]:
        assert spans.span_f1(answer["crowd-entity-annotation"]["entities"], ENTITIES) > 0.4
    for answer in by_hit[hit_ids[2]]:
        assert answer["crowd-label-verification"]["label"] == "cat"
        assert [i["id"] for i in answer["crowd-label-verification"]["items"]] == ["v0", "v1"]


def test_unusable_truth_is_reported_and_the_hit_handed_back(market, mturk, tmp_path: Path) -> None:
    from broker.marketplace.crowd import run_crowd
    from broker.marketplace.crowd.answers import AnswerError

    from .crowd_helpers import TIME_SCALE, publish

    [page] = [render("named-entity-recognition", {"source": TEXT}, labels=NER_LABELS)]
    broken = {TEXT: {"entities": [{"label": "person", "startOffset": 0}]}}  # no endOffset
    with pytest.raises(AnswerError, match="crowd-entity-annotation page for 'Ada Lovelace met"):
        element_answer(GOOD, page, broken[TEXT], 1, 1)
    task_input = build_task_input(
        "named-entity-recognition",
        {"source": TEXT},
        labels=NER_LABELS,
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    html = render_task_html(
        builtin_template_source("named-entity-recognition"),
        task_input,
        task_type="named-entity-recognition",
        data_object={"source": TEXT},
        grant_read_access=grant,
    )
    _, [hit_id] = publish(mturk, [html], reward="1.00", assignments=1, title="Entities")
    stats = run_crowd(
        market.worker_site_url,
        n_workers=1,
        seed=1,
        truth=broken,
        mix="good=1",
        time_scale=TIME_SCALE,
        idle_seconds=0.3,
        concurrency=1,
        max_assignments=3,
    )
    assert stats.assignments_submitted == 0 and stats.assignments_returned >= 1
    assert stats.error_count >= 1 and "truth is unusable" in stats.errors[0]
    hit = mturk.get_hit(HITId=hit_id)["HIT"]
    assert hit["NumberOfAssignmentsAvailable"] == 1  # nothing left accepted and unanswered
