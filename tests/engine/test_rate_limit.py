"""The broker's MTurk client under MTurk's rate limit: throttled calls are retried with backoff
(botocore's adaptive mode slows the client down), so every call completes."""

from __future__ import annotations

import time

from broker import mturk
from broker.marketplace.config import FaultConfig, MarketplaceConfig
from broker.marketplace.server import start_in_thread
from broker.settings import load_settings


def test_the_broker_client_completes_every_call_under_the_rate_limit(tmp_path) -> None:
    config = MarketplaceConfig(db_path=":memory:", faults=FaultConfig(rate_limit_per_second=20))
    running = start_in_thread(config)
    try:
        mturk.forget_clients()
        settings = load_settings(db_url=f"sqlite:///{tmp_path}/b.db", local_endpoint_url=running.endpoint_url)
        client = mturk.client_for(mturk.resolve_target("local", settings))
        started = time.monotonic()
        balances = [client.get_account_balance()["AvailableBalance"] for _ in range(60)]
        elapsed = time.monotonic() - started
    finally:
        mturk.forget_clients()
        running.stop()
    assert balances == ["10000.00"] * 60
    assert running.faults.rate_limited > 0  # the limit was met ...
    assert elapsed >= (60 - 20) / 20  # ... and held: after a burst of 20, at most 20 calls a second
