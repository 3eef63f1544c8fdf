"""The smaller crowd elements and the newer tools in headless Chromium, with Ground Truth's
documented attributes, events and answer JSON: toggle button, slider, tabs, modal, toast, fab,
icon button, badge, alert, line, polyline and instance segmentation."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image
from template_helpers import HitServer

from broker.templates import build_task_input, render_task_html

pytestmark = pytest.mark.browser

IMAGE = {"source-ref": "s3://bucket/images/house.png"}
SIZE = {"height": 320, "width": 480}


def open_custom(page, server: HitServer, name: str, template: str, data: dict | None = None) -> None:
    data = data or IMAGE
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
    html = render_task_html(template, task_input, task_type="custom", data_object=data, grant_read_access=server.grant)
    server.add_page(name, html)
    page.goto(server.hit_url(name))
    page.wait_for_function("window.Crowd && window.Crowd.ready === true")


def submit(page, server: HitServer) -> dict:
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("#done")
    [post] = server.posts
    [answer] = json.loads(dict(post.fields)["taskAnswers"])
    return answer


def at(page, tool: str, x: float, y: float) -> tuple[float, float]:
    return page.evaluate(
        """([tool, x, y]) => {
            const el = document.querySelector(tool);
            const r = el.overlay.getBoundingClientRect();
            return [r.left + x * r.width / el.width, r.top + y * r.height / el.height];
        }""",
        [tool, x, y],
    )


def drag(page, tool: str, start, end, steps: int = 6) -> None:
    page.mouse.move(*at(page, tool, *start))
    page.mouse.down()
    page.mouse.move(*at(page, tool, *end), steps=steps)
    page.mouse.up()


WIDGETS = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-toggle-button name="toggleButtonWithoutValue"></crowd-toggle-button>
  <crowd-toggle-button name="toggleButtonWithValue" value="someValue"></crowd-toggle-button>
  <crowd-toggle-button name="toggleButtonDisabled" disabled></crowd-toggle-button>
  <crowd-toggle-button name="toggleButtonRequired" required></crowd-toggle-button>
  <crowd-slider name="howMuch" min="1" max="10" step="1" pin="true" required>
    <crowd-slider-label position="1">low</crowd-slider-label>
    <crowd-slider-label position="10">high</crowd-slider-label>
  </crowd-slider>
  <crowd-tabs>
    <crowd-tab header="Tab 1"><p id="first">First tab</p></crowd-tab>
    <crowd-tab header="Tab 2"><crowd-input name="inputInsideTab" required></crowd-input></crowd-tab>
  </crowd-tabs>
  <crowd-modal link-text="See Examples" link-type="button"><p id="example">Example Modal Text</p></crowd-modal>
  <crowd-toast duration="10000" opened>Welcome to the task.</crowd-toast>
  <div id="note">Note <crowd-badge icon="star" for="note"></crowd-badge></div>
  <crowd-fab id="fab" icon="report-problem" title="Issue"></crowd-fab>
  <crowd-icon-button id="iconButton" icon="help" title="Help" disabled></crowd-icon-button>
  <p id="clicks">0</p>
</crowd-form>
<script>
  fab.addEventListener('click', function () { clicks.textContent = String(Number(clicks.textContent) + 1); });
  iconButton.addEventListener('click', function () { clicks.textContent = 'icon'; });
</script>"""


def test_widgets_behave_and_answer_as_ground_truth(page, hit_server):
    open_custom(page, hit_server, "widgets", WIDGETS)
    toast = page.locator("crowd-toast")
    assert toast.is_visible() and toast.get_attribute("role") == "status"
    assert page.get_by_role("tabpanel").filter(has_text="First tab").is_visible()
    assert page.locator("crowd-badge").evaluate("b => b.parentElement.id") == "note"
    page.get_by_role("button", name="Issue").click()
    page.get_by_role("button", name="Help").click(force=True)  # disabled: no click gets through
    assert page.locator("#clicks").inner_text() == "1"
    page.get_by_role("button", name="See Examples").click()
    assert page.locator("#example").is_visible()
    page.keyboard.press("Escape")
    page.get_by_role("switch", name="someValue").click()
    page.get_by_role("button", name="Submit").click()  # required toggle and slider untouched: refused
    assert hit_server.posts == []
    assert page.locator("crowd-toggle-button[required]").evaluate("t => t.classList.contains('crowd-invalid')")
    page.locator("crowd-toggle-button[required] button").click()
    slider = page.get_by_role("slider")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert page.locator(".crowd-slider-pin").inner_text() == "4"
    page.get_by_role("button", name="Submit").click()  # the required input in the hidden tab ...
    assert page.get_by_role("tab", name="Tab 2").get_attribute("aria-selected") == "true"  # ... is shown
    page.locator("crowd-input[name=inputInsideTab] input").fill("inside")
    assert submit(page, hit_server) == {
        "toggleButtonWithoutValue": {"on": False},
        "toggleButtonWithValue": {"someValue": True},
        "toggleButtonDisabled": {"on": False},
        "toggleButtonRequired": {"on": True},
        "howMuch": 4,
        "inputInsideTab": "inside",
    }


ALERT = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form><div id="errorBox"></div><crowd-input name="word" required></crowd-input></crowd-form>
<script>
  document.querySelector('crowd-form').onsubmit = function (e) {
    if (document.querySelector('crowd-input').value !== 'yes') {
      e.preventDefault();
      errorBox.innerHTML = '<crowd-alert type="warning" dismissible>Type yes.</crowd-alert>';
    }
  };
</script>"""


def test_alert_written_by_the_template_script_is_styled_and_dismissible(page, hit_server):
    open_custom(page, hit_server, "alert", ALERT)
    page.locator("crowd-input input").fill("no")
    page.get_by_role("button", name="Submit").click()
    alert = page.locator("crowd-alert")
    assert alert.evaluate("a => getComputedStyle(a).backgroundColor") == "rgb(255, 248, 230)"
    assert alert.get_attribute("role") == "alert"
    page.get_by_role("button", name="Dismiss").click()
    assert page.locator("crowd-alert").count() == 0
    page.locator("crowd-input input").fill("yes")
    assert submit(page, hit_server) == {"word": "yes"}


LINES = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-line name="crowdLine" src="{{ task.input.taskObject | grant_read_access }}" labels="['yardline', 'sideline']"
    initial-value="{ lines: [ { label: 'sideline', vertices: [ { x: 10, y: 300 }, { x: 470, y: 300 } ] } ] }">
  </crowd-line>
  <crowd-polyline name="crowdPolyline" src="{{ task.input.taskObject | grant_read_access }}" labels="['road']">
  </crowd-polyline>
</crowd-form>"""


def test_line_and_polyline_draw_and_answer_as_ground_truth(page, hit_server):
    open_custom(page, hit_server, "lines", LINES)
    page.wait_for_function(
        "document.querySelector('crowd-line').width > 0 && document.querySelector('crowd-polyline').width > 0"
    )
    assert page.evaluate("document.querySelector('crowd-line').value.initialValueModified") is False
    drag(page, "crowd-line", (50, 40), (250, 60))  # a yardline by dragging
    page.mouse.click(*at(page, "crowd-line", 100, 200))  # ... and one by two clicks
    page.mouse.click(*at(page, "crowd-line", 300, 210))
    for x, y in ((20, 20), (200, 100), (400, 30)):
        page.mouse.click(*at(page, "crowd-polyline", x, y))
    page.keyboard.press("Enter")
    answer = submit(page, hit_server)
    assert answer["crowdLine"] == {
        "lines": [
            {"label": "sideline", "vertices": [{"x": 10, "y": 300}, {"x": 470, "y": 300}]},
            {"label": "yardline", "vertices": [{"x": 50, "y": 40}, {"x": 250, "y": 60}]},
            {"label": "yardline", "vertices": [{"x": 100, "y": 200}, {"x": 300, "y": 210}]},
        ],
        "inputImageProperties": SIZE,
        "initialValueModified": True,
    }
    assert answer["crowdPolyline"] == {
        "polylines": [{"label": "road", "vertices": [{"x": 20, "y": 20}, {"x": 200, "y": 100}, {"x": 400, "y": 30}]}],
        "inputImageProperties": SIZE,
    }


INSTANCES = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-instance-segmentation name="annotatedResult" src="{{ task.input.taskObject | grant_read_access }}"
    header="Paint each car" labels="['car', 'person']"></crowd-instance-segmentation>
</crowd-form>"""


def test_instance_segmentation_paints_each_instance_in_its_own_colour(page, hit_server):
    open_custom(page, hit_server, "instances", INSTANCES)
    tool = "crowd-instance-segmentation"
    page.wait_for_function(f"document.querySelector('{tool}').width > 0")
    drag(page, tool, (40, 40), (100, 40))  # car #1
    page.keyboard.press("n")
    drag(page, tool, (40, 200), (100, 200))  # car #2
    page.keyboard.press("2")
    drag(page, tool, (300, 120), (360, 120))  # person #1
    result = submit(page, hit_server)["annotatedResult"]
    assert result["instances"] == [
        {"color": "#1f77b4", "label": "car"},
        {"color": "#ff7f0e", "label": "car"},
        {"color": "#2ca02c", "label": "person"},
    ]
    assert result["inputImageProperties"] == SIZE
    image = Image.open(io.BytesIO(base64.b64decode(result["labeledImage"]["pngImageData"]))).convert("RGB")
    assert image.size == (480, 320)
    assert image.getpixel((70, 40)) == (0x1F, 0x77, 0xB4)
    assert image.getpixel((70, 200)) == (0xFF, 0x7F, 0x0E)
    assert image.getpixel((330, 120)) == (0x2C, 0xA0, 0x2C)
    assert image.getpixel((460, 300)) == (255, 255, 255)
    assert {color for _, color in image.getcolors()} == {
        (255, 255, 255),
        (0x1F, 0x77, 0xB4),
        (0xFF, 0x7F, 0x0E),
        (0x2C, 0xA0, 0x2C),
    }
