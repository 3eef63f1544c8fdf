"""The annotation tools in headless Chromium: draw, paint, select and uncheck with mouse
and keyboard, submit, and check the exact post MTurk would receive."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from tools_helpers import (
    PREVIEW_ID,
    answers,
    click_at,
    drag,
    open_hit,
    render_builtin,
    submit_and_read,
    wait_for_image,
)

from broker.templates import (
    build_task_input,
    build_verification_task_input,
    builtin_template_source,
    render_task_html,
)

pytestmark = pytest.mark.browser

IMAGE = {"source-ref": "s3://bucket/images/house.png"}
SIZE = {"height": 320, "width": 480}
BB = "crowd-bounding-box"


def test_bounding_box_drag_label_key_zoom_and_undo(page, hit_server):
    open_hit(page, hit_server, "bb", render_builtin("bounding-box", IMAGE, hit_server.grant))
    wait_for_image(page, BB)
    drag(page, BB, (150, 140), (310, 240))  # the house, label 1
    page.keyboard.press("2")
    drag(page, BB, (20, 20), (60, 70))  # an extra "tree" box ...
    page.keyboard.press("Control+z")  # ... undone
    page.keyboard.press("+")  # zoom to 150%: still image pixels
    assert page.locator(".crowd-annot-zoom").first.inner_text() == "150%"
    drag(page, BB, (370, 20), (440, 90))  # the sun, label 2
    page.screenshot(path="/tmp/tool-bounding-box.png")
    assert answers(submit_and_read(page, hit_server)) == [
        {
            BB: {
                "boundingBoxes": [
                    {"label": "house", "left": 150, "top": 140, "width": 160, "height": 100},
                    {"label": "tree", "left": 370, "top": 20, "width": 70, "height": 70},
                ],
                "inputImageProperties": SIZE,
            }
        }
    ]


def adjustment_page(hit_server) -> str:
    data_object = {
        "source-ref": "s3://bucket/images/house.png",
        "bb": {
            "annotations": [
                {"class_id": 0, "left": 140, "top": 130, "width": 150, "height": 100},
                {"class_id": 1, "left": 10, "top": 10, "width": 30, "height": 30},
            ]
        },
        "bb-metadata": {"class-map": {"0": "house", "1": "tree"}},
    }
    task_input = build_task_input(
        "bounding-box-adjustment",
        data_object,
        labels=["house", "tree"],
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
        initial_value_attribute="bb",
    )
    return render_task_html(
        builtin_template_source("bounding-box-adjustment"),
        task_input,
        task_type="bounding-box-adjustment",
        data_object=data_object,
        grant_read_access=hit_server.grant,
    )


def test_adjustment_moves_resizes_and_deletes_earlier_boxes(page, hit_server):
    open_hit(page, hit_server, "adj", adjustment_page(hit_server))
    wait_for_image(page, BB)
    untouched = page.evaluate("document.querySelector('crowd-bounding-box').crowdAnswer()")
    assert untouched["initialValueModified"] is False
    assert untouched["boundingBoxes"][0] == {"label": "house", "left": 140, "top": 130, "width": 150, "height": 100}
    drag(page, BB, (200, 180), (210, 190))  # move the house box by (+10, +10)
    drag(page, BB, (300, 240), (310, 250))  # its bottom-right corner by (+10, +10)
    click_at(page, BB, 25, 25)  # select the stray "tree" box
    page.keyboard.press("Delete")
    click_at(page, BB, 200, 200)  # select the house box, nudge it
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("ArrowDown")
    assert answers(submit_and_read(page, hit_server)) == [
        {
            BB: {
                "boundingBoxes": [{"label": "house", "left": 140, "top": 141, "width": 160, "height": 110}],
                "inputImageProperties": SIZE,
                "initialValueModified": True,
            }
        }
    ]


POLYGON_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-polygon name="annotatedResult" src="{{ task.input.taskObject | grant_read_access }}"
    header="Outline the roof and the wall" labels="['roof', 'wall']">
    <full-instructions header="Polygon instructions"><p>Click around the outline.</p></full-instructions>
    <short-instructions>Outline each part of the house.</short-instructions>
  </crowd-polygon>
</crowd-form>"""


def custom_page(hit_server, template: str, data_object: dict) -> str:
    task_input = build_task_input(
        "custom",
        data_object,
        labels=[],
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    return render_task_html(
        template, task_input, task_type="custom", data_object=data_object, grant_read_access=hit_server.grant
    )


def test_polygon_clicks_close_undo_and_reshape(page, hit_server):
    open_hit(page, hit_server, "poly", custom_page(hit_server, POLYGON_TEMPLATE, IMAGE))
    wait_for_image(page, "crowd-polygon")
    for x, y in [(140, 140), (230, 80), (320, 140)]:
        click_at(page, "crowd-polygon", x, y)
    click_at(page, "crowd-polygon", 141, 141)  # the first point closes it
    page.keyboard.press("2")
    for x, y in [(150, 140), (310, 140), (310, 240), (150, 240), (100, 300)]:
        click_at(page, "crowd-polygon", x, y)
    page.keyboard.press("Control+z")  # drops the stray last point
    page.keyboard.press("Enter")
    click_at(page, "crowd-polygon", 230, 120)  # select the roof ...
    drag(page, "crowd-polygon", (230, 80), (230, 70))  # ... and raise its apex
    page.screenshot(path="/tmp/tool-polygon.png")
    assert answers(submit_and_read(page, hit_server)) == [
        {
            "annotatedResult": {
                "polygons": [
                    {"label": "roof", "vertices": [{"x": 140, "y": 140}, {"x": 230, "y": 70}, {"x": 320, "y": 140}]},
                    {
                        "label": "wall",
                        "vertices": [
                            {"x": 150, "y": 140},
                            {"x": 310, "y": 140},
                            {"x": 310, "y": 240},
                            {"x": 150, "y": 240},
                        ],
                    },
                ],
                "inputImageProperties": SIZE,
            }
        }
    ]


KEYPOINT_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-keypoint name="crowdKeypoint" src="{{ task.input.taskObject | grant_read_access }}"
    header="Mark the roof top and the sun" labels='["roof top", "sun"]'>
    <short-instructions>One point per part.</short-instructions>
  </crowd-keypoint>
</crowd-form>"""


def test_keypoint_click_and_drag(page, hit_server):
    open_hit(page, hit_server, "kp", custom_page(hit_server, KEYPOINT_TEMPLATE, IMAGE))
    wait_for_image(page, "crowd-keypoint")
    click_at(page, "crowd-keypoint", 220, 90)
    drag(page, "crowd-keypoint", (220, 90), (230, 80))  # nudge it onto the roof top
    page.get_by_role("radio", name="sun").click()
    click_at(page, "crowd-keypoint", 405, 55)
    page.screenshot(path="/tmp/tool-keypoint.png")
    assert answers(submit_and_read(page, hit_server)) == [
        {
            "crowdKeypoint": {
                "keypoints": [{"label": "roof top", "x": 230, "y": 80}, {"label": "sun", "x": 405, "y": 55}],
                "inputImageProperties": SIZE,
            }
        }
    ]


SEG = "crowd-semantic-segmentation"


def test_segmentation_paints_label_colours_into_the_png(page, hit_server):
    html = render_builtin("semantic-segmentation", IMAGE, hit_server.grant, labels=["house", "sky"])
    open_hit(page, hit_server, "seg", html)
    wait_for_image(page, SEG)
    drag(page, SEG, (160, 180), (300, 180), steps=10)  # house, brush radius 10
    page.keyboard.press("2")
    drag(page, SEG, (20, 20), (100, 20))  # sky ...
    page.keyboard.press("Control+z")  # ... undone
    drag(page, SEG, (20, 40), (60, 40))  # sky, kept
    page.keyboard.press("e")
    drag(page, SEG, (280, 170), (300, 190))  # erase the stroke's right end
    page.screenshot(path="/tmp/tool-segmentation.png")
    [answer] = answers(submit_and_read(page, hit_server))
    result = answer[SEG]
    assert set(result) == {"labeledImage", "labelMappings", "inputImageProperties"}
    assert result["labelMappings"] == {"house": {"color": "#1f77b4"}, "sky": {"color": "#ff7f0e"}}
    assert result["inputImageProperties"] == SIZE
    image = Image.open(io.BytesIO(base64.b64decode(result["labeledImage"]["pngImageData"])))
    assert image.size == (480, 320)
    pixels = image.convert("RGBA")
    house, sky, white = (31, 119, 180, 255), (255, 127, 14, 255), (255, 255, 255, 255)
    assert {colour for _, colour in pixels.getcolors(480 * 320)} == {house, sky, white}  # no blended edges
    assert [pixels.getpixel(p) for p in [(160, 180), (230, 188), (151, 180), (230, 195)]] == [house] * 3 + [white]
    assert [pixels.getpixel(p) for p in [(40, 40), (60, 20), (290, 180), (140, 180)]] == [sky, white, white, white]


NER_TEXT = "😀 Ada Lovelace met Charles Babbage in London in 1833."
PEOPLE = ["person", "place", "date"]


def select_text(page, start: int, end: int) -> None:
    """Mouse-drag over UTF-16 offsets [start, end) of the (unlabelled) text."""
    box = page.evaluate(
        """([start, end]) => {
            const node = document.querySelector('.crowd-entity-text').firstChild;
            const range = document.createRange();
            range.setStart(node, start); range.setEnd(node, end);
            const rects = range.getClientRects();
            const first = rects[0], last = rects[rects.length - 1];
            return [first.left + 1, first.top + first.height / 2, last.right - 1, last.top + last.height / 2];
        }""",
        [start, end],
    )
    page.mouse.move(box[0], box[1])
    page.mouse.down()
    page.mouse.move(box[2], box[3], steps=4)
    page.mouse.up()


def test_entity_annotation_mouse_and_keyboard_code_point_offsets(page, hit_server):
    html = render_builtin("named-entity-recognition", {"source": NER_TEXT}, hit_server.grant, labels=PEOPLE)
    assert "<crowd-form" not in html  # as in GT, the element brings its form
    open_hit(page, hit_server, "ner", html)
    select_text(page, 3, 15)  # "Ada Lovelace" (😀 is 2 UTF-16 units)
    page.keyboard.press("3")
    text = page.locator(".crowd-entity-text")  # keyboard: click before "1833", Shift+4, Enter
    x, y = page.evaluate(
        """() => {
            const node = document.querySelector('.crowd-entity-text').lastChild;
            const range = document.createRange();
            range.setStart(node, node.data.indexOf('1833')); range.setEnd(node, node.data.indexOf('1833') + 1);
            const r = range.getBoundingClientRect();
            return [r.left + 1, r.top + r.height / 2];
        }"""
    )
    page.mouse.click(x, y)
    for _ in range(4):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Enter")
    page.keyboard.press("1")
    select_text(page, 0, 2)  # the emoji alone: labelled then removed
    page.locator(".crowd-entity-x").first.click()
    assert text.locator("mark").count() == 2
    page.screenshot(path="/tmp/tool-entity.png")
    assert answers(submit_and_read(page, hit_server)) == [
        {
            "crowd-entity-annotation": {
                "entities": [
                    {"label": "person", "startOffset": 2, "endOffset": 14},
                    {"label": "date", "startOffset": 48, "endOffset": 52},
                ]
            }
        }
    ]


def verification_page(hit_server, objects: list[dict], ids: list[str], label: str = "house") -> str:
    task_input = build_verification_task_input(
        objects,
        ids,
        label=label,
        header="",
        short_instructions="<p>Uncheck what is not a house.</p>",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    return render_task_html(
        builtin_template_source("label-verification"),
        task_input,
        task_type="label-verification",
        data_object={},
        grant_read_access=hit_server.grant,
    )


def test_verification_batch_starts_checked_and_posts_the_unchecked(page, hit_server):
    objects = [{"source-ref": "s3://bucket/images/house.png"}] * 3 + [{"source": "A small red house with a roof."}]
    html = verification_page(hit_server, objects, ["img-1", "img-2", "img-3", "txt-4"])
    open_hit(page, hit_server, "verify", html)
    boxes = page.get_by_role("checkbox")
    assert [boxes.nth(i).is_checked() for i in range(4)] == [True] * 4
    page.locator(".crowd-verify-item").nth(1).click()  # mouse: item 2 does not fit
    boxes.nth(2).focus()
    page.keyboard.press("ArrowRight")  # keyboard: move to item 4, Space
    page.keyboard.press("Space")
    assert page.locator(".crowd-verify-text").inner_text() == "A small red house with a roof."
    page.screenshot(path="/tmp/tool-verification.png")
    assert answers(submit_and_read(page, hit_server)) == [
        {
            "crowd-label-verification": {
                "label": "house",
                "items": [
                    {"id": "img-1", "correct": True},
                    {"id": "img-2", "correct": False},
                    {"id": "img-3", "correct": True},
                    {"id": "txt-4", "correct": False},
                ],
            }
        }
    ]


@pytest.mark.parametrize("tool", ["bounding-box", "named-entity-recognition"])
def test_preview_cannot_submit(page, hit_server, tool):
    data = IMAGE if tool == "bounding-box" else {"source": NER_TEXT}
    open_hit(
        page,
        hit_server,
        "preview",
        render_builtin(tool, data, hit_server.grant, labels=PEOPLE),
        assignment_id=PREVIEW_ID,
    )
    submit = page.get_by_role("button", name="Submit")
    assert submit.is_disabled()
    assert "ACCEPT the HIT" in page.locator(".crowd-form-status").inner_text()
    page.evaluate("document.querySelector('crowd-form').requestSubmit()")
    page.evaluate("document.querySelector('crowd-form').submit()")
    page.wait_for_timeout(200)  # a post would be a navigation; give it a moment to (not) happen
    assert hit_server.posts == []


HOSTILE = '</script><script>window.pwned = 1</script> "quoted" \'single\' ]]> <img src=x onerror="window.pwned=2">'


def test_manifest_data_renders_inert(page, hit_server):
    """Text from the manifest (NER text, a verification item) and a label stay text."""
    ner = render_builtin("named-entity-recognition", {"source": HOSTILE}, hit_server.grant, labels=PEOPLE)
    open_hit(page, hit_server, "ner-hostile", ner)
    assert page.locator(".crowd-entity-text").inner_text() == HOSTILE
    assert page.evaluate("window.pwned") is None
    html = verification_page(hit_server, [{"source": HOSTILE}], ["x\"'<b>"], label=HOSTILE)
    open_hit(page, hit_server, "verify-hostile", html)
    assert page.locator(".crowd-verify-text").inner_text() == HOSTILE
    assert page.locator(".crowd-verify-label strong").inner_text() == HOSTILE
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("document.querySelector('crowd-label-verification').crowdAnswer()") == {
        "label": HOSTILE,
        "items": [{"id": "x\"'<b>", "correct": True}],
    }


GUIDE_NER = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>

<crowd-entity-annotation
  name="crowd-entity-annotation"
  header="Highlight parts of the text below"
  labels="[{'label': 'person', 'shortDisplayName': 'per', 'fullDisplayName': 'Person'}, \
{'label': 'date', 'shortDisplayName': 'dat', 'fullDisplayName': 'Date'}, \
{'label': 'company', 'shortDisplayName': 'com', 'fullDisplayName': 'Company'}]"
  text="Amazon SageMaker Ground Truth helps you build highly accurate training datasets for machine learning quickly."
>
  <full-instructions header="Named entity recognition instructions">
    <ol><li><strong>Read</strong> the text carefully.</li></ol>
  </full-instructions>
  <short-instructions>
    Apply labels to words or phrases.
  </short-instructions>
    <div id="additionalQuestions" style="margin-top: 20px">
      <h3>What is the overall subject of this text?</h3>
      <crowd-radio-group>
        <crowd-radio-button name="tech" value="tech">Technology</crowd-radio-button>
        <crowd-radio-button name="politics" value="politics">Politics</crowd-radio-button>
      </crowd-radio-group>
    </div>
</crowd-entity-annotation>

<script>
  document.addEventListener('all-crowd-elements-ready', () => {
    document
      .querySelector('crowd-entity-annotation')
      .shadowRoot
      .querySelector('crowd-form')
      .form
      .appendChild(additionalQuestions);
  });
</script>"""


def test_ground_truth_guide_entity_sample_runs_unchanged(page, hit_server):
    """The developer guide's crowd-entity-annotation sample, script and extra question included."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    open_hit(page, hit_server, "guide-ner", custom_page(hit_server, GUIDE_NER, {"source": "unused"}))
    page.get_by_role("radio", name="Company").click()
    select_text(page, 0, len("Amazon"))
    page.get_by_role("radio", name="Technology").click()
    assert errors == []
    assert answers(submit_and_read(page, hit_server)) == [
        {
            "crowd-entity-annotation": {"entities": [{"label": "company", "startOffset": 0, "endOffset": 6}]},
            "tech": {"tech": True},
            "politics": {"politics": False},
        }
    ]


SEG_ADJUST_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-semantic-segmentation name="crowd-semantic-segmentation" src="{{ task.input.taskObject | grant_read_access }}"
    header="Check the painted regions" labels="['house', 'sky']"
    initial-value='{"labelMappings": {"sky": {"color": "#ff7f0e"}}, \
"src": "{{ task.input.earlier | grant_read_access }}"}'>
  </crowd-semantic-segmentation>
</crowd-form>"""


def test_segmentation_initial_value_loads_the_earlier_mask(page, hit_server):
    earlier = Image.new("RGB", (480, 320), (255, 255, 255))
    earlier.paste((255, 127, 14), (0, 0, 480, 100))  # the earlier job painted the sky band
    buffer = io.BytesIO()
    earlier.save(buffer, format="PNG")
    hit_server.files["masks/earlier.png"] = ("image/png", buffer.getvalue())
    data_object = {**IMAGE, "earlier": "s3://bucket/masks/earlier.png"}
    open_hit(page, hit_server, "seg-adjust", custom_page(hit_server, SEG_ADJUST_TEMPLATE, data_object))
    page.wait_for_function("document.querySelector('crowd-semantic-segmentation').countText() === '1 label(s) painted'")
    untouched = page.evaluate("document.querySelector('crowd-semantic-segmentation').crowdAnswer()")
    assert untouched["initialValueModified"] is False
    mask = Image.open(io.BytesIO(base64.b64decode(untouched["labeledImage"]["pngImageData"]))).convert("RGB")
    assert mask.tobytes() == earlier.tobytes()
    drag(page, SEG, (200, 200), (240, 200))  # paint some house
    [answer] = answers(submit_and_read(page, hit_server))
    assert answer[SEG]["initialValueModified"] is True


def test_large_image_opens_fitted_and_answers_in_image_pixels(page, hit_server):
    from tools_helpers import sample_png

    hit_server.files["images/big.png"] = ("image/png", sample_png(2400, 1600))
    open_hit(
        page,
        hit_server,
        "big",
        custom_page(hit_server, KEYPOINT_TEMPLATE, {"source-ref": "s3://bucket/images/big.png"}),
    )
    wait_for_image(page, "crowd-keypoint")
    zoom = page.evaluate("document.querySelector('crowd-keypoint').zoom")
    assert 0.2 < zoom < 0.5  # the whole width fits the stage
    click_at(page, "crowd-keypoint", 1150, 450)
    [answer] = answers(submit_and_read(page, hit_server))
    [point] = answer["crowdKeypoint"]["keypoints"]
    assert answer["crowdKeypoint"]["inputImageProperties"] == {"height": 1600, "width": 2400}
    # one screen pixel is 1/zoom image pixels: the click lands within that of its target
    assert abs(point["x"] - 1150) <= 1 / zoom and abs(point["y"] - 450) <= 1 / zoom


ENTITY_ADJUST_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-entity-annotation name="ner" header="Check the names" text="{{ task.input.taskObject }}"
  labels="[{label: 'person', shortDisplayName: 'per'}, {label: 'place', shortDisplayName: 'plc'}]"
  initial-value="[{label: 'person', startOffset: 2, endOffset: 14}, {label: 'place', startOffset: 19, endOffset: 26}]">
</crowd-entity-annotation>"""


def test_entity_initial_value_is_shown_and_corrected(page, hit_server):
    open_hit(page, hit_server, "ner-adjust", custom_page(hit_server, ENTITY_ADJUST_TEMPLATE, {"source": NER_TEXT}))
    assert page.locator("mark").all_inner_texts() == ["Ada Lovelaceper×", "Charlesplc×"]
    assert (
        page.evaluate("document.querySelector('crowd-entity-annotation').crowdAnswer().initialValueModified") is False
    )
    page.locator("mark", has_text="Charles").click()  # caret in the wrong span ...
    page.keyboard.press("1")  # ... relabels it "person"
    assert answers(submit_and_read(page, hit_server)) == [
        {
            "ner": {
                "entities": [
                    {"label": "person", "startOffset": 2, "endOffset": 14},
                    {"label": "person", "startOffset": 19, "endOffset": 26},
                ],
                "initialValueModified": True,
            }
        }
    ]
