"""Fixtures for template tests (helpers live in template_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from template_helpers import HitServer, running_hit_server


@pytest.fixture()
def hit_server() -> Iterator[HitServer]:
    with running_hit_server() as server:
        yield server
