"""A batched verification HIT worked in headless Chromium: the engine publishes it to the
embedded marketplace, a worker unchecks the items whose label is wrong and submits, the
engine collects and consolidates, and the output manifest says which labels were bad."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus
from broker.stages.submit import submit_job
from broker.store.tables import Hit, Job
from tests.engine.verification_jobs import write_verification_job
from tests.worker_site.site_helpers import browser_sign_up

pytestmark = pytest.mark.browser


def test_worker_unchecks_wrong_labels_in_chromium_and_output_marks_them_bad(page, tmp_path, market, settings, engine):
    files = write_verification_job(tmp_path / "job", {"cat": 6}, batch_size=6, workers_per_object=1)
    submit_job(files.spec_path, engine, settings)
    assert run_cycle(engine, settings).errors == []
    with Session(engine) as session:
        [hit] = session.exec(select(Hit)).all()

    site = market.worker_site_url
    worker_id = browser_sign_up(page, site, "verifier")
    page.goto(f"{site}/projects/{market.marketplace.hits[hit.hit_id].hit_type_id}/preview")
    page.locator("#accept-form button").click()
    frame = page.frame_locator("#hit-frame")
    boxes = frame.get_by_role("checkbox")
    boxes.first.wait_for()
    assert boxes.count() == 6 and all(boxes.nth(i).is_checked() for i in range(6))  # every item pre-checked
    assert frame.locator(".crowd-verify-label strong").inner_text() == "cat"
    assert all(
        frame.locator(".crowd-verify-item img").nth(i).evaluate("img => img.complete && img.naturalWidth") == 8
        for i in range(6)
    )  # the objects' images load
    wrong = [i for i, fits in enumerate(files.fits) if not fits]  # objects 0 and 4
    for i in wrong:
        frame.locator(".crowd-verify-item").nth(i).click()
    assert [boxes.nth(i).is_checked() for i in range(6)] == files.fits
    frame.get_by_role("button", name="Submit").click()
    frame.locator("#hit-submitted").wait_for()

    for _ in range(2):
        run_cycle(engine, settings)
    with Session(engine) as session:
        assert session.exec(select(Job)).one().status == JobStatus.COMPLETED
    manifest = files.output_dir / "verify-job" / "manifests" / "output" / "output.manifest"
    lines = [json.loads(text) for text in manifest.read_text().splitlines()]
    assert [line["verify-category"] for line in lines] == ["1" if i in wrong else "0" for i in range(6)]
    for line, original in zip(lines, files.lines):
        metadata = line.pop("verify-category-metadata")
        assert metadata.pop("creation-date")
        assert metadata == {
            "class-name": "bad" if line["verify-category"] == "1" else "good",
            "confidence": 0.0,
            "type": "groundtruth/label-verification",
            "job-name": "labeling-job/verify-job",
            "human-annotated": "yes",
        }  # one worker: confidence 0.00
        line.pop("verify-category")
        assert line == original
    # worker responses per datasetObjectId, each holding that object's share of the batch answer
    responses = (files.output_dir / "verify-job" / "annotations" / "worker-response" / "iteration-1").glob("*/*.json")
    by_object = {path.parent.name: json.loads(path.read_text())["answers"] for path in responses}
    assert sorted(by_object, key=int) == [str(i) for i in range(6)]
    for object_id, [answer] in by_object.items():
        assert answer["workerId"] == worker_id
        assert answer["answerContent"] == {
            "crowd-label-verification": {
                "label": "cat",
                "items": [{"id": object_id, "correct": files.fits[int(object_id)]}],
            }
        }
