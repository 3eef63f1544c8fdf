"""Helpers for the annotation-tool tests: the local HIT server of tests/templates, page
loading, mouse drawing in image pixels and reading the exact externalSubmit post."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "templates"))

from template_helpers import (  # noqa: E402  (the shared local HIT server)
    PREVIEW_ID,
    REALISTIC_FULL,
    HitServer,
    make_handler,
    render_builtin,
    running_hit_server,
    sample_png,
)

__all__ = [
    "PREVIEW_ID",
    "REALISTIC_FULL",
    "HitServer",
    "make_handler",
    "render_builtin",
    "running_hit_server",
    "sample_png",
    "open_hit",
    "submit_and_read",
    "answers",
    "image_to_page",
    "drag",
    "click_at",
]

BOX_GOOD = "<p>A tight box: every edge touches the object.</p>"
BOX_BAD = "<p>A loose box with sky around the roof.</p>"


def open_hit(page, server: HitServer, name: str, html: str, **url_args) -> None:
    server.add_page(name, html)
    page.goto(server.hit_url(name, **url_args))
    page.wait_for_function("window.Crowd && window.Crowd.ready === true")


def wait_for_image(page, selector: str) -> None:
    page.wait_for_function(f"document.querySelector({json.dumps(selector)}).width > 0")


def image_to_page(page, tool: str, x: float, y: float) -> tuple[float, float]:
    """Viewport coordinates of image pixel (x, y) in the tool's overlay (any zoom)."""
    return page.evaluate(
        """([tool, x, y]) => {
            const el = document.querySelector(tool);
            const r = el.overlay.getBoundingClientRect();
            return [r.left + x * r.width / el.width, r.top + y * r.height / el.height];
        }""",
        [tool, x, y],
    )


def drag(page, tool: str, start: tuple[float, float], end: tuple[float, float], steps: int = 5) -> None:
    page.mouse.move(*image_to_page(page, tool, *start))
    page.mouse.down()
    page.mouse.move(*image_to_page(page, tool, *end), steps=steps)
    page.mouse.up()


def click_at(page, tool: str, x: float, y: float) -> None:
    page.mouse.click(*image_to_page(page, tool, x, y))


def submit_and_read(page, server: HitServer) -> list[tuple[str, str]]:
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("#done")
    assert [post.path for post in server.posts] == ["/mturk/externalSubmit"]
    return server.posts[0].fields


def answers(fields: list[tuple[str, str]]) -> list[dict]:
    assert [name for name, _ in fields] == ["assignmentId", "taskAnswers"]
    assert fields[0][1] == "ASSIGNMENT1"
    return json.loads(fields[1][1])
