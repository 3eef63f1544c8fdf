"""A built-in HIT end to end on the embedded marketplace: CreateHIT with our HTMLQuestion
through boto3, previewed and worked in Chromium through the worker site's frame, and the
answer read back with ListAssignmentsForHIT exactly as MTurk returns it."""

from __future__ import annotations

import json
from urllib.parse import quote

import boto3
import pytest
from defusedxml import ElementTree
from template_helpers import render_builtin, sample_png

from broker.templates import html_question

pytestmark = pytest.mark.browser
ANSWERS_NS = "{http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd}"


@pytest.fixture()
def marketplace(tmp_path):
    from broker.marketplace.config import MarketplaceConfig
    from broker.marketplace.server import start_in_thread

    running = start_in_thread(MarketplaceConfig(file_roots=[str(tmp_path)]))
    yield running
    running.stop()


def test_image_hit_on_the_embedded_marketplace(page, marketplace, tmp_path):
    image = tmp_path / "house.png"
    image.write_bytes(sample_png())

    def grant(path: str) -> str:
        return f"{marketplace.worker_site_url}/local-files/{quote(path.lstrip('/'))}"

    html = render_builtin("image-classification", {"source-ref": str(image)}, grant, good_examples=[])
    mturk = boto3.client(
        "mturk",
        endpoint_url=marketplace.endpoint_url,
        region_name=marketplace.region,
        aws_access_key_id=marketplace.access_key_id,
        aws_secret_access_key=marketplace.secret_access_key,
    )
    hit = mturk.create_hit(
        Title="Classify an image",
        Description="Pick one category",
        Reward="0.05",
        MaxAssignments=1,
        LifetimeInSeconds=3600,
        AssignmentDurationInSeconds=600,
        Question=html_question(html),
    )["HIT"]

    site = marketplace.worker_site_url
    page.goto(f"{site}/signup")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "correct-horse")
    page.fill("input[name=confirm]", "correct-horse")
    page.locator("form").last.locator("button[type=submit], input[type=submit]").first.click()
    page.goto(f"{site}/projects/{hit['HITTypeId']}/preview")
    frame = page.frame_locator("#hit-frame")
    assert frame.get_by_role("button", name="Submit").is_disabled()
    assert frame.locator("img.crowd-image").evaluate("img => img.complete && img.naturalWidth") == 480

    page.locator("#accept-form button").click()
    frame = page.frame_locator("#hit-frame")
    frame.locator("img.crowd-image").click()  # focus the HIT's frame, as a worker would
    page.keyboard.press("3")
    assert frame.get_by_role("radio", name="car").get_attribute("aria-checked") == "true"
    frame.get_by_role("button", name="Submit").click()
    frame.locator("#hit-submitted").wait_for()

    assignments = mturk.list_assignments_for_hit(HITId=hit["HITId"])["Assignments"]
    assert len(assignments) == 1
    root = ElementTree.fromstring(assignments[0]["Answer"])
    answers = [
        (a.find(f"{ANSWERS_NS}QuestionIdentifier").text, a.find(f"{ANSWERS_NS}FreeText").text)
        for a in root.findall(f"{ANSWERS_NS}Answer")
    ]
    assert [name for name, _ in answers] == ["taskAnswers"]
    assert json.loads(answers[0][1]) == [{"crowd-image-classifier": {"label": "car"}}]
