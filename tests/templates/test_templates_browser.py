"""The rendered HITs in headless Chromium: pick by click and keyboard, submit, and check
the exact form post MTurk would receive at {turkSubmitTo}/mturk/externalSubmit."""

from __future__ import annotations

import json

import pytest
from template_helpers import PREVIEW_ID, HitServer, render_builtin

from broker.templates import build_task_input, html_question, render_task_html

pytestmark = pytest.mark.browser

IMAGE = {"source-ref": "s3://bucket/images/house.png"}
TEXT = {"source": "The parcel came two days late, but support refunded me at once."}
SENTIMENT = ["positive", "negative", "neutral", "mixed"]


def open_hit(page, server: HitServer, name: str, html: str, **url_args) -> None:
    server.add_page(name, html)
    page.goto(server.hit_url(name, **url_args))
    page.wait_for_function("window.Crowd && window.Crowd.ready === true")


def submit_and_read(page, server: HitServer) -> list[tuple[str, str]]:
    """Click Submit, wait for the post to land, return its fields in form order."""
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("#done")
    assert [post.path for post in server.posts] == ["/mturk/externalSubmit"]
    return server.posts[0].fields


def answers(fields: list[tuple[str, str]]) -> list[dict]:
    assert [name for name, _ in fields] == ["assignmentId", "taskAnswers"]
    assert fields[0][1] == "ASSIGNMENT1"
    return json.loads(fields[1][1])


def test_image_classifier_click_posts_ground_truth_answer(page, hit_server):
    open_hit(page, hit_server, "img", render_builtin("image-classification", IMAGE, hit_server.grant))
    assert page.locator("img.crowd-image").evaluate("img => img.naturalWidth") == 480
    page.get_by_role("radio", name="car").click()
    page.get_by_role("radio", name="tree").click()
    assert answers(submit_and_read(page, hit_server)) == [{"crowd-image-classifier": {"label": "tree"}}]


def test_text_classifier_number_key_picks_category(page, hit_server):
    html = render_builtin("text-classification", TEXT, hit_server.grant, labels=SENTIMENT)
    open_hit(page, hit_server, "txt", html)
    assert page.locator(".crowd-target").inner_text() == TEXT["source"]
    page.keyboard.press("3")
    assert page.get_by_role("radio", name="neutral").get_attribute("aria-checked") == "true"
    assert answers(submit_and_read(page, hit_server)) == [{"crowd-classifier": {"label": "neutral"}}]


def test_image_multilabel_keys_toggle_and_keep_category_order(page, hit_server):
    html = render_builtin("image-classification-multilabel", IMAGE, hit_server.grant)
    open_hit(page, hit_server, "multi", html)
    page.keyboard.press("4")
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.keyboard.press("2")  # toggles "tree" off again
    assert answers(submit_and_read(page, hit_server)) == [
        {"crowd-image-classifier-multi-select": {"labels": ["house", "person"]}}
    ]


def test_text_multilabel_click(page, hit_server):
    html = render_builtin("text-classification-multilabel", TEXT, hit_server.grant, labels=SENTIMENT)
    open_hit(page, hit_server, "tmulti", html)
    page.get_by_role("checkbox", name="negative").click()
    page.get_by_role("checkbox", name="positive").click()
    assert answers(submit_and_read(page, hit_server)) == [
        {"crowd-classifier-multi-select": {"labels": ["positive", "negative"]}}
    ]


def test_submit_is_blocked_until_a_category_is_chosen(page, hit_server):
    open_hit(page, hit_server, "req", render_builtin("text-classification", TEXT, hit_server.grant, labels=SENTIMENT))
    page.get_by_role("button", name="Submit").click()
    assert page.locator(".crowd-form-status").inner_text() == "Please choose a category."
    assert hit_server.posts == []
    page.keyboard.press("1")
    assert answers(submit_and_read(page, hit_server)) == [{"crowd-classifier": {"label": "positive"}}]


@pytest.mark.parametrize("assignment_id", [PREVIEW_ID, ""])
def test_preview_cannot_submit(page, hit_server, assignment_id):
    html = render_builtin("image-classification", IMAGE, hit_server.grant)
    open_hit(page, hit_server, "preview", html, assignment_id=assignment_id)
    submit = page.get_by_role("button", name="Submit")
    assert submit.is_disabled()
    assert "ACCEPT the HIT" in page.locator(".crowd-form-status").inner_text()
    page.keyboard.press("1")  # the worker may still try the task in preview
    page.evaluate("document.querySelector('crowd-form').requestSubmit()")
    page.evaluate("document.querySelector('crowd-form').submit()")
    assert page.url.startswith(f"{hit_server.base_url}/hits/preview")
    assert "ACCEPT the HIT" in page.locator(".crowd-form-status").inner_text()
    assert hit_server.posts == []


def test_hostile_manifest_text_stays_inert_through_html_question(page, hit_server):
    hostile = (
        "</classification-target></script><script>window.pwned=1</script>"
        '<img src=x onerror="window.pwned=2"> it\'s "quoted" ]]> & done'
    )
    data = {"source": hostile}
    html = render_builtin("text-classification", data, hit_server.grant, labels=["<b>x</b>", 'it\'s "y"'])
    from xml.etree import ElementTree

    content = (
        ElementTree.fromstring(html_question(html))
        .find(
            "{http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd}HTMLContent"
        )
        .text
    )
    assert content == html
    open_hit(page, hit_server, "hostile", content)
    assert page.evaluate("window.pwned") is None
    assert page.locator(".crowd-target").inner_text() == hostile
    block = json.loads(page.locator("#crowd-task-input").text_content())
    assert block["dataObject"] == data
    assert block["labels"] == ["<b>x</b>", 'it\'s "y"']
    page.get_by_role("radio", name='it\'s "y"').click()
    assert answers(submit_and_read(page, hit_server)) == [{"crowd-classifier": {"label": 'it\'s "y"'}}]


# The sample of ground-truth-docs/sms-custom-templates-step2.md, with Liquid, plus the
# other elements of this phase and a template script that fills a hidden input on submit.
GT_CUSTOM = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-classifier
    name="tweetFeeling"
    categories="['positive', 'negative', 'neutral', 'cannot determine']"
    header="Which term best describes this tweet?"
  >
    <classification-target>
       {{ task.input.source }}
    </classification-target>
    <full-instructions header="Analyzing a sentiment">
      Try to determine the feeling the author of the tweet is trying to express.
    </full-instructions>
    <short-instructions>
      Pick the term best describing the sentiment of the tweet.
    </short-instructions>
  </crowd-classifier>
  <crowd-checkbox name="flags" value="sarcastic">Sarcastic</crowd-checkbox>
  <crowd-checkbox name="flags" value="offensive">Offensive</crowd-checkbox>
  <crowd-radio-group>
    <crowd-radio-button name="lang-en" value="en">English</crowd-radio-button>
    <crowd-radio-button name="lang-other" value="other">Other language</crowd-radio-button>
  </crowd-radio-group>
  <crowd-input name="topic" label="Topic" required></crowd-input>
  <crowd-input name="unused" label="Optional note"></crowd-input>
  <crowd-text-area name="why" label="Why?"></crowd-text-area>
  <select name="confidence"><option>low</option><option>high</option></select>
  <input type="hidden" name="clientTag" value="">
</crowd-form>
<script>
  document.addEventListener('all-crowd-elements-ready', function () {
    window.readyClassifierButtons = document.querySelectorAll('crowd-classifier .crowd-choice').length;
  });
  document.querySelector('crowd-form').addEventListener('submit', function () {
    document.querySelector('input[name=clientTag]').value = 'set-on-submit';
  });
</script>"""


def render_custom(source: str, data: dict, grant) -> str:
    task_input = build_task_input(
        "custom",
        data,
        labels=[],
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    return render_task_html(source, task_input, task_type="custom", data_object=data, grant_read_access=grant)


def test_ground_truth_custom_template_runs_unchanged(page, hit_server):
    data = {"source": "My team won today! Bring on the finals!"}
    html = render_custom(GT_CUSTOM, data, hit_server.grant)
    open_hit(page, hit_server, "custom", html)
    assert page.evaluate("window.readyClassifierButtons") == 4  # the event fires once all are built
    page.get_by_role("button", name="Submit").click()
    assert page.locator(".crowd-form-status").inner_text() == "Please choose a category."
    page.get_by_role("radio", name="negative").click()
    page.get_by_role("button", name="Submit").click()
    assert page.locator(".crowd-form-status").inner_text() == "Topic: This field is required."
    page.get_by_label("Topic").fill("sports")
    page.get_by_label("Why?").fill("line one\nline two")
    page.get_by_text("Offensive").click()
    page.get_by_text("Other language").click()
    page.get_by_text("English").click()
    page.select_option("select[name=confidence]", "high")
    assert answers(submit_and_read(page, hit_server)) == [
        {
            "tweetFeeling": {"label": "negative"},
            "flags": {"sarcastic": False, "offensive": True},
            "lang-en": {"en": True},
            "lang-other": {"other": False},
            "topic": "sports",
            "why": "line one\nline two",
            "confidence": "high",
            "clientTag": "set-on-submit",
        }
    ]


def test_template_submit_handler_can_cancel(page, hit_server):
    source = GT_CUSTOM.replace(
        "document.querySelector('input[name=clientTag]').value = 'set-on-submit';",
        "event.preventDefault(); window.cancelled = (window.cancelled || 0) + 1;",
    ).replace("function ()", "function (event)")
    open_hit(page, hit_server, "cancel", render_custom(source, {"source": "x"}, hit_server.grant))
    page.keyboard.press("1")
    page.get_by_label("Topic").fill("t")
    page.get_by_role("button", name="Submit").click()
    assert page.evaluate("window.cancelled") == 1
    assert hit_server.posts == []


def test_full_instructions_and_crowd_instructions_open(page, hit_server):
    source = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-instructions link-text="View instructions" link-type="button">
    <short-summary><p>Write one tag.</p></short-summary>
    <detailed-instructions><p>Describe the main subject.</p></detailed-instructions>
    <positive-example><p>Highway</p></positive-example>
    <negative-example><p>Outside</p></negative-example>
  </crowd-instructions>
  <crowd-card heading="Image"><img src="{{ task.input.taskObject | grant_read_access }}"></crowd-card>
  <crowd-input name="tag1" label="Word/phrase 1" required></crowd-input>
</crowd-form>"""
    open_hit(page, hit_server, "instr", render_custom(source, IMAGE, hit_server.grant))
    page.get_by_role("button", name="View instructions").click()
    dialog = page.locator("dialog[open]")
    assert "Write one tag." in dialog.inner_text()
    dialog.get_by_role("tab", name="Examples").click()
    assert "Highway" in dialog.locator("[role=tabpanel]:not([hidden])").inner_text()
    assert "Outside" in dialog.locator("[role=tabpanel]:not([hidden])").inner_text()
    page.keyboard.press("Escape")
    page.get_by_label("Word/phrase 1").fill("house")
    assert answers(submit_and_read(page, hit_server)) == [{"tag1": "house"}]


def test_builtin_full_instructions_modal(page, hit_server):
    open_hit(page, hit_server, "full", render_builtin("image-classification", IMAGE, hit_server.grant))
    page.get_by_role("button", name="View full instructions").click()
    assert "Answers are checked against expert labels." in page.locator("dialog[open]").inner_text()
    page.keyboard.press("2")  # shortcuts are off while the instructions are open
    page.keyboard.press("Escape")
    assert page.locator("[aria-checked=true]").count() == 0


def test_exclusion_category_overlay_and_worker_comment(page, hit_server):
    source = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-image-classifier-multi-select name="animals" categories="['Cat', 'Dog']"
      src="{{ task.input.taskObject | grant_read_access }}" header="Which animals?"
      exclusion-category="{ text: 'None of the above' }">
  </crowd-image-classifier-multi-select>
  <crowd-image-classifier name="boxQuality" categories='["good", "bad"]'
      src="{{ task.input.taskObject | grant_read_access }}" header="Rate the boxes"
      overlay='{"boundingBox": {labels: ["house"], \
value: [{height: 100, label: "house", left: 150, top: 140, width: 160},]},}'>
    <worker-comment header="Why?" link-text="Explain your rating" placeholder="The box is..."></worker-comment>
  </crowd-image-classifier>
</crowd-form>"""
    open_hit(page, hit_server, "extras", render_custom(source, IMAGE, hit_server.grant))
    multi = page.locator("crowd-image-classifier-multi-select")
    multi.get_by_role("checkbox", name="Cat").click()
    page.keyboard.press("2")  # focus is in the multi-select: its 2nd category
    page.keyboard.press("3")  # its exclusion category clears the others
    assert multi.locator("[aria-checked=true]").evaluate_all("els => els.map(e => e.dataset.label)") == [
        "None of the above"
    ]
    single = page.locator("crowd-image-classifier")
    single.locator("svg.crowd-overlay rect").wait_for(state="attached")
    rect = single.locator("svg.crowd-overlay rect")
    assert [rect.get_attribute(a) for a in ("x", "y", "width", "height")] == ["150", "140", "160", "100"]
    single.get_by_role("radio", name="bad").click()
    single.get_by_role("button", name="Explain your rating").click()
    page.locator("dialog[open] textarea").fill("  The box misses the roof. ")
    page.keyboard.press("Escape")
    assert answers(submit_and_read(page, hit_server)) == [
        {
            "animals": {"labels": ["None of the above"]},
            "boxQuality": {"label": "bad", "workerComment": "The box misses the roof."},
        }
    ]


CROWD_BUTTON = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-radio-group required>
    <crowd-radio-button name="yes" value="yes">Yes</crowd-radio-button>
    <crowd-radio-button name="no" value="no">No</crowd-radio-button>
  </crowd-radio-group>
  <crowd-checkbox name="agree" required>I followed the instructions</crowd-checkbox>
  <crowd-button form-action="submit" variant="primary">Send answer</crowd-button>
</crowd-form>"""


def test_crowd_button_submits_and_required_radio_and_checkbox_block(page, hit_server):
    open_hit(page, hit_server, "button", render_custom(CROWD_BUTTON, {"source": "x"}, hit_server.grant))
    assert page.get_by_role("button", name="Submit").count() == 0  # the template brings its own
    send = page.get_by_role("button", name="Send answer")
    send.click()
    assert page.locator(".crowd-form-status").inner_text() == "Please choose one of the options."
    page.get_by_text("No", exact=True).click()
    send.click()
    assert page.locator(".crowd-form-status").inner_text() == 'Please check "I followed the instructions".'
    assert hit_server.posts == []
    page.get_by_label("I followed the instructions").check()
    send.click()
    page.wait_for_selector("#done")
    assert answers(hit_server.posts[0].fields) == [{"yes": {"yes": False}, "no": {"no": True}, "agree": {"on": True}}]


def test_crowd_button_is_disabled_in_preview(page, hit_server):
    open_hit(
        page,
        hit_server,
        "button-preview",
        render_custom(CROWD_BUTTON, {"source": "x"}, hit_server.grant),
        assignment_id=PREVIEW_ID,
    )
    assert page.get_by_role("button", name="Send answer").is_disabled()
