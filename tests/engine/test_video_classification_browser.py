"""A video classification HIT worked in headless Chromium: the clip is in the page with the player's
controls, the worker picks a topic and submits, and the engine's output has Ground Truth's layout."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus
from broker.stages.submit import submit_job
from broker.store.tables import Hit, Job
from tests.engine.test_video_classification import write_video_job
from tests.worker_site.site_helpers import browser_sign_up

pytestmark = pytest.mark.browser


def test_worker_classifies_a_clip_in_chromium_and_the_output_has_its_label(
    page, tmp_path, market, settings, engine
) -> None:
    spec_path, truth = write_video_job(tmp_path / "job", 1)
    spec = spec_path.read_text().replace("workers_per_object: 3", "workers_per_object: 1")
    spec_path.write_text(spec)
    submit_job(spec_path, engine, settings)
    assert run_cycle(engine, settings).errors == []
    with Session(engine) as session:
        [hit] = session.exec(select(Hit)).all()

    site = market.worker_site_url
    browser_sign_up(page, site, "video-watcher")
    page.goto(f"{site}/projects/{market.marketplace.hits[hit.hit_id].hit_type_id}/preview")
    page.locator("#accept-form button").click()
    frame = page.frame_locator("#hit-frame")
    video = frame.locator("video")
    video.wait_for()
    assert video.evaluate("v => v.controls") and video.get_attribute("src")
    [(clip, label)] = truth.items()
    frame.get_by_role("radio", name=label).click()
    frame.get_by_role("button", name="Submit").click()
    frame.locator("#hit-submitted").wait_for()

    [assignment] = market.client().list_assignments_for_hit(HITId=hit.hit_id)["Assignments"]
    answer = assignment["Answer"].split("<FreeText>")[1].split("</FreeText>")[0].replace("&quot;", '"')
    assert json.loads(answer) == [{"crowd-classifier": {"label": label}}]  # Ground Truth's answer shape
    for _ in range(2):
        run_cycle(engine, settings)
    with Session(engine) as session:
        job = session.exec(select(Job)).one()
        assert job.status == JobStatus.COMPLETED
    [line] = [json.loads(text) for text in open(job.output_manifest).read().splitlines()]
    assert line["source-ref"] == clip and line["clips-metadata"]["class-name"] == label
    assert line["clips-metadata"]["type"] == "groundtruth/video-classification"
