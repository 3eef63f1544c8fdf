"""Crowd fixtures: a real marketplace in a thread (clock sped up like the crowd's work time)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.server import RunningMarketplace, start_in_thread

from .crowd_helpers import TIME_SCALE


@pytest.fixture()
def market() -> Iterator[RunningMarketplace]:
    with start_in_thread(MarketplaceConfig(db_path=":memory:", time_scale=TIME_SCALE)) as running:
        yield running


@pytest.fixture()
def mturk(market: RunningMarketplace):
    return market.client()
