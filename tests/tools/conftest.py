"""Fixtures for the annotation-tool tests: the local HIT server serving a 480x320 image."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tools_helpers import HitServer, running_hit_server


@pytest.fixture()
def hit_server() -> Iterator[HitServer]:
    with running_hit_server() as server:
        yield server
