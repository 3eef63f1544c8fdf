"""Fixtures for spatial/span consolidation: small simulated crowds with known truth."""

from __future__ import annotations

import pytest
from simulated_crowds import make_box_crowd, make_mask_crowd, make_span_crowd


@pytest.fixture()
def box_crowd():
    return make_box_crowd


@pytest.fixture()
def mask_crowd():
    return make_mask_crowd


@pytest.fixture()
def span_crowd():
    return make_span_crowd
