"""Amazon's 87 public Ground Truth sample templates, unchanged, in headless Chromium: each is
rendered as `broker validate` renders it, worked with mouse and keyboard, submitted, and the
post checked element by element against Ground Truth's answer shapes (gt_samples.py).

Reads ../shared/reference/gt-task-uis and skips where it is absent. Nothing reaches the
internet: CDN scripts come from a Python package's copy where one ships them, and the samples
that need a script no package ships are skipped with the reason (gt_samples.NEEDS_INTERNET).
"""

from __future__ import annotations

import json

import pytest
from gt_samples import NEEDS_INTERNET, SAMPLES, render_sample, run_sample, sample_context, sample_paths, serve_media
from template_helpers import running_hit_server

pytestmark = pytest.mark.browser

PATHS = sample_paths()


@pytest.fixture(scope="module")
def sample_server():
    if not PATHS:
        pytest.skip("../shared/reference/gt-task-uis is not present (a user's clone)")
    with running_hit_server() as server:
        serve_media(server)
        yield server


@pytest.fixture(scope="module")
def sample_page(browser, sample_server):
    """One page for all the samples (a new context per sample would triple the run time)."""
    context = sample_context(browser, sample_server)
    yield context.new_page()
    context.close()


def test_all_87_samples_are_present():
    if not SAMPLES.is_dir():
        pytest.skip("../shared/reference/gt-task-uis is not present (a user's clone)")
    assert len(PATHS) == 87


@pytest.mark.parametrize("path", PATHS or ["(samples absent)"])
def test_sample_works_unchanged_and_posts_ground_truth_shapes(sample_page, sample_server, path):
    outcome = run_sample(sample_page, sample_server, path)
    if path in NEEDS_INTERNET:
        assert outcome.status != "refused", outcome.detail
        pytest.skip(f"needs the internet: {NEEDS_INTERNET[path]}")
    assert outcome.status == "clean", outcome.detail
    assert outcome.errors == []


def open_sample(page, server, path: str) -> None:
    name = "x-" + path.replace("/", "-")
    server.add_page(name, render_sample(path, server.grant))
    server.posts.clear()
    page.goto(server.hit_url(name))
    page.wait_for_function("window.Crowd && window.Crowd.ready === true")


def posted(page, server) -> dict:
    page.wait_for_selector("#done")
    [post] = [p for p in server.posts if p.path == "/mturk/externalSubmit"]
    [answer] = json.loads(dict(post.fields)["taskAnswers"])
    return answer


def click_image(page, tool: str, x: float, y: float) -> None:
    point = page.evaluate(
        """([tool, x, y]) => {
            const el = document.querySelector(tool);
            const r = el.overlay.getBoundingClientRect();
            return [r.left + x * r.width / el.width, r.top + y * r.height / el.height];
        }""",
        [tool, x, y],
    )
    page.mouse.click(*point)


def test_scripted_crowd_alert_is_styled_and_the_keypoint_value_check_holds(sample_page, sample_server):
    page = sample_page
    open_sample(page, sample_server, "images/keypoint-additional-answer-validation.liquid.html")
    page.wait_for_function("document.querySelector('crowd-keypoint').width > 0")
    for x in (40, 80, 120):  # three keypoints: the template's own check (via .value) refuses them
        click_image(page, "crowd-keypoint", x, 60)
    page.get_by_role("button", name="Submit").click()
    alert = page.locator("#errorBox crowd-alert")
    alert.wait_for()
    assert alert.get_attribute("role") == "alert"
    assert alert.evaluate("a => getComputedStyle(a).backgroundColor") == "rgb(253, 238, 238)"  # error style
    assert not [p for p in sample_server.posts if p.path == "/mturk/externalSubmit"]
    page.locator(".crowd-alert-close").click()  # dismissible
    assert page.locator("#errorBox crowd-alert").count() == 0
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    page.get_by_role("button", name="Submit").click()
    keypoints = posted(page, sample_server)["annotatedResult"]["keypoints"]
    assert keypoints == [{"label": "Item A", "x": 40, "y": 60}]


def test_two_tier_classifier_shows_its_second_tier_in_the_shadow_root_hook(sample_page, sample_server):
    page = sample_page
    open_sample(page, sample_server, "images/dynamic-two-tier-image-classification.liquid.html")
    page.get_by_role("radio", name="Portrait").click()
    headshot = page.get_by_role("checkbox", name="Headshot")
    assert headshot.is_visible()
    headshot.check()
    page.get_by_role("button", name="Submit").click()
    answer = posted(page, sample_server)
    assert answer["image_category"] == {"label": "Portrait"}
    assert answer["classification-reasoning"]["Headshot"] is True
    assert answer["classification-reasoning"]["Candid"] is False


def test_disabled_checkboxes_are_enabled_and_disabled_again_by_the_template(sample_page, sample_server):
    page = sample_page
    open_sample(page, sample_server, "gen-ai/content-moderation-ai-model-output.liquid.html")
    hate = page.get_by_role("checkbox", name="Hate")
    assert hate.is_disabled()
    page.locator("#toxic").check()
    assert hate.is_enabled()
    hate.check()
    page.locator("#non-toxic").check()
    assert hate.is_disabled()
    page.locator("#toxic").check()
    page.get_by_role("button", name="Submit").click()
    answer = posted(page, sample_server)
    assert answer["toxicity"] == {"toxic": True, "non-toxic": False}
    assert answer["nature-of-toxicity"]["hate"] is True


def test_labels_typed_into_the_template_become_the_tool_labels(sample_page, sample_server):
    page = sample_page
    open_sample(page, sample_server, "images/bounding-box-custom-labels.liquid.html")
    page.wait_for_function("document.querySelector('crowd-bounding-box').width > 0")
    assert page.locator(".crowd-annot-label").count() == 0  # the template empties the labels
    for label in ("cat", "dog", "bird"):
        page.locator("#customLabel input").fill(label)
        page.locator("#addLabel").click()
    page.locator("#labelsSection a").nth(2).click()  # "(Delete)" bird
    assert page.locator(".crowd-annot-label").evaluate_all("bs => bs.map(b => b.dataset.label)") == ["cat", "dog"]
    page.keyboard.press("2")
    start = page.evaluate("""() => { const el = document.querySelector('crowd-bounding-box');
        const r = el.overlay.getBoundingClientRect(); return [r.left, r.top, r.width / el.width]; }""")
    left, top, scale = start
    page.mouse.move(left + 20 * scale, top + 30 * scale)
    page.mouse.down()
    page.mouse.move(left + 120 * scale, top + 90 * scale, steps=4)
    page.mouse.up()
    page.get_by_role("button", name="Submit").click()
    boxes = posted(page, sample_server)["myTexts"]["boundingBoxes"]
    assert boxes == [{"label": "dog", "left": 20, "top": 30, "width": 100, "height": 60}]


def test_list_printed_by_the_template_is_json_as_on_ground_truth(sample_page, sample_server):
    page = sample_page
    open_sample(page, sample_server, "text/formatted-text-evaluation.liquid.html")
    # The manifest's response already marks "lazy dog"; the script's JSON.parse of the printed
    # list worked when it wrapped that text in its own highlight span.
    assert page.locator("#highlighted-text span.highlight > span.highlight").all_inner_texts() == ["lazy dog"]
    assert page.locator("#highlightParts").get_attribute("data-highlight-parts") == '["lazy dog"]'


def test_instructions_width_hook_reaches_the_sidebar(sample_page, sample_server):
    page = sample_page
    open_sample(page, sample_server, "other/custom-instructions-width.liquid.html")
    page.wait_for_function("document.querySelector('.crowd-sidebar').getBoundingClientRect().width === 400")
    assert page.evaluate("document.querySelector('dialog.crowd-modal').style.maxWidth") == "90%"


def test_text_ranking_refuses_ties_where_the_dimension_forbids_them(sample_page, sample_server):
    page = sample_page
    open_sample(page, sample_server, "gen-ai/text-ranking.liquid.html")
    for dimension in ("Clarity", "Inclusivity"):
        for response in (1, 2, 3):
            page.get_by_label(f"{dimension} rank for response {response}").select_option("1")
    page.get_by_role("button", name="Submit").click()
    assert "no ties" in page.locator("crowd-text-ranking .crowd-error").inner_text()
    for response, rank in ((2, "2"), (3, "3")):
        page.get_by_label(f"Inclusivity rank for response {response}").select_option(rank)
    page.get_by_role("button", name="Submit").click()
    assert posted(page, sample_server) == {
        "ordinalRankingDimensions": [
            {"name": "Clarity", "responseRankings": [1, 1, 1]},
            {"name": "Inclusivity", "responseRankings": [1, 2, 3]},
        ]
    }
