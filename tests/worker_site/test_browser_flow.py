"""One real-browser flow in headless Chromium: sign up, accept, fill the HIT's form, submit."""

from __future__ import annotations

import pytest

from .site_helpers import create_hit

pytestmark = pytest.mark.browser


def test_worker_signs_up_accepts_fills_and_submits_in_chromium(page, market, mturk) -> None:
    _, hit_id = create_hit(mturk, reward="0.12")
    site = market.worker_site_url

    page.goto(f"{site}/signup")
    page.fill("input[name=username]", "browser-worker")
    page.fill("input[name=password]", "a long password")
    page.fill("input[name=confirm]", "a long password")
    page.click("#signup-form button[type=submit]")
    page.wait_for_url(f"{site}/")
    worker_id = page.get_attribute("#worker-id", "data-worker-id")

    page.click(".accept-form button")
    page.wait_for_url(f"{site}/tasks/*")
    frame = page.frame_locator("#hit-frame")
    frame.locator("input[name=category][value=dog]").wait_for()
    hit_frame = next(f for f in page.frames if "/question?" in f.url)
    assert hit_frame.evaluate("() => self.origin") == "null"  # requester HTML cannot act as the worker
    frame.locator("input[name=category][value=dog]").check()
    frame.locator("input[name=comment]").fill("floppy ears & a tail")
    frame.locator("#submitButton").click()
    frame.locator("#hit-submitted").wait_for()

    [assignment] = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["WorkerId"] == worker_id
    assert assignment["Answer"].endswith(
        "<Answer><QuestionIdentifier>category</QuestionIdentifier><FreeText>dog</FreeText></Answer>"
        "<Answer><QuestionIdentifier>comment</QuestionIdentifier><FreeText>floppy ears &amp; a tail</FreeText></Answer>"
        "</QuestionFormAnswers>"
    )
