"""Helpers for template tests: a tiny local HIT server that serves rendered pages and
images and records every POST to /mturk/externalSubmit, and built-in HIT rendering."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from PIL import Image, ImageDraw

from broker.templates import build_task_input, builtin_template_source, render_task_html

PREVIEW_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"


def sample_png(width: int = 480, height: int = 320) -> bytes:
    """A small synthetic photo-like PNG (sky, ground, a sun and a house)."""
    image = Image.new("RGB", (width, height), (135, 190, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, height * 2 // 3, width, height], fill=(90, 160, 80))
    draw.ellipse([width - 110, 20, width - 40, 90], fill=(250, 210, 60))
    draw.rectangle([150, 140, 310, 240], fill=(200, 90, 70))
    draw.polygon([(140, 140), (230, 80), (320, 140)], fill=(120, 60, 50))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Post:
    path: str
    fields: list[tuple[str, str]]


@dataclass
class HitServer:
    """Serves /hits/<name> pages and /files/<key> images; records POSTs."""

    base_url: str = ""
    pages: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)

    def add_page(self, name: str, html: str) -> None:
        self.pages[f"/hits/{name}"] = html.encode("utf-8")

    def hit_url(self, name: str, *, assignment_id: str = "ASSIGNMENT1", worker_id: str = "AWORKER1") -> str:
        query = urlencode(
            {"assignmentId": assignment_id, "hitId": "HIT1", "turkSubmitTo": self.base_url, "workerId": worker_id}
        )
        return f"{self.base_url}/hits/{name}?{query}"

    def grant(self, uri: str) -> str:
        """The grant_read_access callable: s3://bucket/key -> this server's /files/key."""
        key = uri.split("://", 1)[-1].split("/", 1)[-1]
        return f"{self.base_url}/files/{key}?X-Amz-Signature=test&token=a"


def make_handler(server: HitServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path in server.pages:
                self._send(200, "text/html; charset=utf-8", server.pages[path])
            elif path.startswith("/files/") and path[len("/files/") :] in server.files:
                self._send(200, *server.files[path[len("/files/") :]])
            else:
                self._send(404, "text/plain", b"not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            path = urlsplit(self.path).path
            server.posts.append(Post(path, parse_qsl(body, keep_blank_values=True)))
            self._send(200, "text/html; charset=utf-8", b"<p id='done'>HIT submitted</p>")

    return Handler


REALISTIC_SHORT = (
    "<p>Look at the whole image before you choose. Pick the category of the <b>main subject</b>, "
    "the object that takes up most of the picture or that the photographer clearly focused on.</p>"
    "<p>If two categories seem to fit, choose the more specific one. Use <b>Other</b> only when no "
    "category fits at all.</p>"
)
REALISTIC_FULL = (
    "<h3>What we need</h3><p>We are building a catalogue of everyday scenes. Each image shows one "
    "scene; your answer tells us which category it belongs to.</p><ol>"
    + "".join(
        f"<li><strong>Step {i}.</strong> Read the options and review the examples to understand the labels; "
        "images may be dark, blurry or cropped, choose the best match anyway.</li>"
        for i in range(1, 9)
    )
    + "</ol><p>Answers are checked against expert labels. Careless work is rejected.</p>"
)


def render_builtin(
    task_type: str,
    data_object: dict,
    grant,
    *,
    labels: list[str] | None = None,
    header: str = "",
    good_examples: list[str] | None = None,
    bad_examples: list[str] | None = None,
    short: str = REALISTIC_SHORT,
    full: str = REALISTIC_FULL,
) -> str:
    """Render a built-in task type the way the publish tick does."""
    task_input = build_task_input(
        task_type,
        data_object,
        labels=labels or ["house", "tree", "car", "person"],
        header=header,
        short_instructions=short,
        full_instructions=full,
        good_examples=good_examples if good_examples is not None else ["s3://bucket/images/house.png"],
        bad_examples=bad_examples
        if bad_examples is not None
        else ["<p>Choosing <b>tree</b> because a tree is in the corner.</p>"],
    )
    return render_task_html(
        builtin_template_source(task_type),
        task_input,
        task_type=task_type,
        data_object=data_object,
        grant_read_access=grant,
    )


class QuietHTTPServer(ThreadingHTTPServer):
    """A browser that leaves a page cancels its media requests: not an error worth a traceback."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def running_hit_server() -> Iterator[HitServer]:
    """A local HIT server on a free port, serving a 480x320 sample image at images/house.png."""
    state = HitServer()
    httpd = QuietHTTPServer(("127.0.0.1", 0), make_handler(state))
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    state.files["images/house.png"] = ("image/png", sample_png())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
