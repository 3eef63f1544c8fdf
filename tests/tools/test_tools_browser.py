"""The annotation tools in headless Chromium: draw, paint, select and uncheck with mouse
and keyboard, submit, and check the exact post MTurk would receive."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from broker.templates import (
    build_task_input,
    build_verification_task_input,
    builtin_template_source,
    render_task_html,
)
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

pytestmark = pytest.mark.browser

IMAGE = {"source-ref": "s3://bucket/images/house.png"}
SIZE = {"height": 320, "width": 480}
BB = "crowd-bounding-box"


def test_bounding_box_drag_label_key_zoom_and_undo(page, hit_server):
    open_hit(page, hit_server, "bb", render_builtin("bounding-box", IMAGE, hit_server.grant))
    wait_for_image(page, BB)
    drag(page, BB, (150, 140), (310, 240))                       # the house, label 1
    page.keyboard.press("2")
    drag(page, BB, (20, 20), (60, 70))                           # an extra "tree" box ...
    page.keyboard.press("Control+z")                             # ... undone
    page.keyboard.press("+")                                     # zoom to 150%: still image pixels
    assert page.locator(".crowd-annot-zoom").first.inner_text() == "150%"
    drag(page, BB, (370, 20), (440, 90))                         # the sun, label 2
    page.screenshot(path="/tmp/tool-bounding-box.png")
    assert answers(submit_and_read(page, hit_server)) == [{BB: {
        "boundingBoxes": [
            {"label": "house", "left": 150, "top": 140, "width": 160, "height": 100},
            {"label": "tree", "left": 370, "top": 20, "width": 70, "height": 70},
        ],
        "inputImageProperties": SIZE,
    }}]
