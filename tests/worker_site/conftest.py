"""Worker-site fixtures: a real marketplace server (uvicorn in a thread), boto3, and web clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.server import RunningMarketplace, start_in_thread

from .site_helpers import WebWorker


@pytest.fixture()
def files_root(tmp_path: Path) -> Path:
    root = tmp_path / "job-files"
    root.mkdir()
    return root


@pytest.fixture()
def market(files_root: Path) -> Iterator[RunningMarketplace]:
    with start_in_thread(MarketplaceConfig(db_path=":memory:", file_roots=[str(files_root)])) as running:
        yield running


@pytest.fixture()
def mturk(market: RunningMarketplace):
    return market.client()


@pytest.fixture()
def web(market: RunningMarketplace) -> Iterator:
    """Factory of WebWorker clients, closed after the test."""
    made: list[WebWorker] = []

    def factory() -> WebWorker:
        worker = WebWorker(market.worker_site_url)
        made.append(worker)
        return worker

    yield factory
    for worker in made:
        worker.close()
