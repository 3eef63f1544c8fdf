"""Fixtures for the annotation-tool tests: the local HIT server serving a 480x320 image."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from tools_helpers import HitServer, make_handler, sample_png


@pytest.fixture()
def hit_server() -> Iterator[HitServer]:
    state = HitServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    state.files["images/house.png"] = ("image/png", sample_png())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
