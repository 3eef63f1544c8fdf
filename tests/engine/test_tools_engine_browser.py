"""The annotation tools through the whole engine, in headless Chromium: the broker publishes a
box / segmentation / entity / verification job on the embedded marketplace, a person signs up on
the worker site, accepts the HIT, draws a box / paints a region / selects spans / unchecks items
inside the HIT's sandboxed frame and submits; the broker collects, reviews, consolidates and
writes the output manifest line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from sqlmodel import Session

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus
from broker.stages.submit import submit_job
from broker.store.tables import Job

pytestmark = pytest.mark.browser

IMAGE_W, IMAGE_H = 240, 160


def _job(folder: Path, task_type: str, labels: list[str], line: dict, name: str) -> Path:
    manifest = folder / "input.manifest"
    manifest.write_text(json.dumps(line) + "\n")
    spec = {
        "job_name": name,
        "task_type": task_type,
        "labels": labels,
        "input_manifest": str(manifest),
        "output": str(folder / "output"),
        "workers_per_object": 1,
        "reward": "0.05",
        "title": f"A {task_type} task",
        "description": "Mark what the instructions ask for.",
        "lifetime_seconds": 3600,
        "assignment_duration_seconds": 600,
        "auto_approval_delay_seconds": 86400,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _image(folder: Path) -> dict:
    path = folder / "scene.png"
    image = Image.new("RGB", (IMAGE_W, IMAGE_H), (230, 230, 230))
    image.paste((40, 90, 160), (60, 40, 140, 100))  # a blue block at left 60, top 40, 80 x 60
    image.save(path)
    return {"source-ref": str(path)}


def _accept_as_new_worker(page, market):
    """Sign up on the worker site, accept the only HIT; the HIT's frame once its tool is ready."""
    site = market.worker_site_url
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.goto(f"{site}/signup")
    page.fill("input[name=username]", "tool-worker")
    page.fill("input[name=password]", "a long password")
    page.fill("input[name=confirm]", "a long password")
    page.click("#signup-form button[type=submit]")
    page.wait_for_url(f"{site}/")
    page.click(".accept-form button")
    page.wait_for_url(f"{site}/tasks/*")
    page.frame_locator("#hit-frame").locator("body").wait_for()
    frame = next(f for f in page.frames if "/question?" in f.url)
    frame.wait_for_function("window.Crowd && window.Crowd.ready === true")
    return frame


def _frame_offset(page) -> tuple[float, float]:
    return tuple(
        page.evaluate("""() => { const f = document.querySelector('#hit-frame');
        const r = f.getBoundingClientRect(); return [r.left + f.clientLeft, r.top + f.clientTop]; }""")
    )


def _image_point(page, frame, tool: str, x: float, y: float) -> tuple[float, float]:
    """Viewport coordinates of image pixel (x, y) of the tool inside the HIT frame."""
    left, top = _frame_offset(page)
    fx, fy = frame.evaluate(
        """([tool, x, y]) => { const el = document.querySelector(tool);
        el.scrollIntoView(); const r = el.overlay.getBoundingClientRect();
        return [r.left + x * r.width / el.width, r.top + y * r.height / el.height]; }""",
        [tool, x, y],
    )
    return left + fx, top + fy


def _drag(page, frame, tool: str, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    page.mouse.move(*_image_point(page, frame, tool, *start))
    page.mouse.down()
    page.mouse.move(*_image_point(page, frame, tool, *end), steps=steps)
    page.mouse.up()


def _submit_and_finish(page, frame, engine, settings, job_id: int) -> None:
    frame.get_by_role("button", name="Submit").click()
    page.frame_locator("#hit-frame").locator("#hit-submitted").wait_for()
    for _ in range(4):
        assert run_cycle(engine, settings).errors == []
        with Session(engine) as session:
            if session.get(Job, job_id).status == JobStatus.COMPLETED:
                return
    raise AssertionError("the job did not complete")


def _output_line(folder: Path, name: str) -> dict:
    [line] = (folder / "output" / name / "manifests" / "output" / "output.manifest").read_text().splitlines()
    return json.loads(line)


def _published(tmp_path, engine, settings, spec_path: Path) -> int:
    job_id = submit_job(spec_path, engine, settings).job_id
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []
    return job_id


def test_box_drawn_in_the_worker_site_reaches_the_output_manifest(page, tmp_path, market, settings, engine):
    job_id = _published(
        tmp_path, engine, settings, _job(tmp_path, "bounding-box", ["block", "sky"], _image(tmp_path), "boxes")
    )
    frame = _accept_as_new_worker(page, market)
    frame.wait_for_function("document.querySelector('crowd-bounding-box').width > 0")
    _drag(page, frame, "crowd-bounding-box", (60, 40), (140, 100))  # label 1: the block
    _submit_and_finish(page, frame, engine, settings, job_id)

    line = _output_line(tmp_path, "boxes")
    assert line["boxes"]["image_size"] == [{"width": IMAGE_W, "height": IMAGE_H, "depth": 3}]
    [box] = line["boxes"]["annotations"]
    assert box["class_id"] == 0 and line["boxes-metadata"]["class-map"] == {"0": "block"}
    assert (
        max(abs(a - b) for a, b in zip((box["left"], box["top"], box["width"], box["height"]), (60, 40, 80, 60))) <= 1
    )
    assert line["boxes-metadata"]["objects"] == [{"confidence": 0.0}]  # one worker: Ground Truth writes 0.00
    assert line["boxes-metadata"]["type"] == "groundtruth/object-detection"


def test_region_painted_in_the_worker_site_becomes_the_consolidated_png(page, tmp_path, market, settings, engine):
    job_id = _published(
        tmp_path, engine, settings, _job(tmp_path, "semantic-segmentation", ["block"], _image(tmp_path), "paint")
    )
    frame = _accept_as_new_worker(page, market)
    frame.wait_for_function("document.querySelector('crowd-semantic-segmentation').width > 0")
    for y in range(50, 95, 8):  # brush strokes across the block
        _drag(page, frame, "crowd-semantic-segmentation", (70, y), (130, y))
    _submit_and_finish(page, frame, engine, settings, job_id)

    line = _output_line(tmp_path, "paint")
    metadata = line["paint-ref-metadata"]
    assert metadata["type"] == "groundtruth/semantic-segmentation"
    assert metadata["internal-color-map"]["1"] == {"class-name": "block", "confidence": 0.0, "hex-color": "#1f77b4"}
    with Image.open(line["paint-ref"]) as image:
        pixels = np.asarray(image.convert("RGB"))
    painted = (pixels == (0x1F, 0x77, 0xB4)).all(axis=2)
    assert painted.shape == (IMAGE_H, IMAGE_W)
    assert painted[55:90, 75:125].all() and not painted[:30].any() and not painted[:, 150:].any()


def test_span_selected_in_the_worker_site_reaches_the_output_manifest(page, tmp_path, market, settings, engine):
    text = "Grace Hopper visited Oslo."
    job_id = _published(
        tmp_path,
        engine,
        settings,
        _job(tmp_path, "named-entity-recognition", ["person", "place"], {"source": text}, "names"),
    )
    frame = _accept_as_new_worker(page, market)
    left, top = _frame_offset(page)
    for start, end, key in ((0, 12, "1"), (21, 25, "2")):
        page.keyboard.press(key)  # the label the next selection gets
        x0, y0, x1, y1 = frame.evaluate(
            f"""([start, end]) => {{ const node = document.querySelector('.crowd-entity-text').lastChild;
                const range = document.createRange();
                const from = node.data.length - ({len(text)} - start), to = node.data.length - ({len(text)} - end);
                range.setStart(node, from); range.setEnd(node, to);
                const rects = range.getClientRects(), a = rects[0], b = rects[rects.length - 1];
                return [a.left + 1, a.top + a.height / 2, b.right - 1, b.top + b.height / 2]; }}""",
            [start, end],
        )
        page.mouse.move(left + x0, top + y0)
        page.mouse.down()
        page.mouse.move(left + x1, top + y1, steps=4)
        page.mouse.up()
    _submit_and_finish(page, frame, engine, settings, job_id)

    line = _output_line(tmp_path, "names")
    assert line["names"]["annotations"]["entities"] == [
        {"label": "person", "startOffset": 0, "endOffset": 12},
        {"label": "place", "startOffset": 21, "endOffset": 25},
    ]
    assert line["names-metadata"]["type"] == "groundtruth/text-span"
    assert [text[e["startOffset"] : e["endOffset"]] for e in line["names"]["annotations"]["entities"]] == [
        "Grace Hopper",
        "Oslo",
    ]


def test_items_unchecked_in_the_worker_site_become_verification_verdicts(page, tmp_path, market, settings, engine):
    texts = ["A red house with a roof.", "A blue bicycle.", "A small stone cottage.", "A yellow taxi."]
    lines = [{"source": text, "kind": 0, "kind-metadata": {"class-name": "house", "confidence": 0.9}} for text in texts]
    spec_path = _job(tmp_path, "label-verification", ["good", "bad"], lines[0], "check")
    spec_path.write_text(
        yaml.safe_dump(yaml.safe_load(spec_path.read_text()) | {"verification": {"label_attribute": "kind"}})
    )
    (tmp_path / "input.manifest").write_text("".join(json.dumps(line) + "\n" for line in lines))  # all four
    job_id = _published(tmp_path, engine, settings, spec_path)
    frame = _accept_as_new_worker(page, market)
    boxes = frame.get_by_role("checkbox")
    assert [boxes.nth(i).is_checked() for i in range(4)] == [True] * 4  # every item starts "fits"
    frame.locator(".crowd-verify-item").nth(1).click()  # the bicycle is no house
    boxes.nth(2).focus()
    page.keyboard.press("ArrowRight")  # keyboard: to the taxi, Space
    page.keyboard.press("Space")
    _submit_and_finish(page, frame, engine, settings, job_id)

    out = [
        json.loads(line)
        for line in (tmp_path / "output" / "check" / "manifests" / "output" / "output.manifest")
        .read_text()
        .splitlines()
    ]
    assert [line["check"] for line in out] == ["0", "1", "0", "1"]  # Ground Truth's verdict index
    assert all(line["check-metadata"]["type"] == "groundtruth/label-verification" for line in out)
    assert [line["kind-metadata"]["class-name"] for line in out] == ["house"] * 4  # the verified label stays
