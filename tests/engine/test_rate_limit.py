"""The broker's MTurk client under MTurk's rate limit: throttled calls are retried with backoff
(botocore's standard mode, exponential backoff), so every call completes."""

from __future__ import annotations

import threading
import time

import pytest

from broker import mturk
from broker.marketplace.config import FaultConfig, MarketplaceConfig
from broker.marketplace.server import start_in_thread
from broker.settings import load_settings
from broker.store import dispose_engine, get_engine, reading, transaction
from broker.store.ratelimit import DatabaseCallGate, call_counts, rates_from_settings, take_slot


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


def _gate_client(engine, settings, running) -> tuple:
    """A fresh broker client for `running`, its requests through a DatabaseCallGate on `engine`."""
    target = mturk.resolve_target("local", settings)
    mturk.forget_clients()
    gate = DatabaseCallGate(engine, rates_from_settings(settings))
    mturk.use_call_gate(gate)
    return mturk.client_for(target), gate, target


@pytest.mark.parametrize("fault", ["throttle", "unavailable"])
def test_throttled_and_unavailable_calls_are_retried_and_counted(db_url, fault) -> None:
    """ThrottlingException (botocore's throttling list) and 503s are retried until each call succeeds;
    every attempt is counted per operation, the throttled ones apart."""
    assert "ThrottlingException" in mturk.THROTTLING_CODES
    faults = FaultConfig(seed=3, **{f"{fault}_probability": 0.25})
    running = start_in_thread(MarketplaceConfig(db_path=":memory:", faults=faults))
    engine = get_engine(db_url)
    try:
        settings = load_settings(db_url=db_url, local_endpoint_url=running.endpoint_url)
        client, gate, _ = _gate_client(engine, settings, running)
        with mturk.calls_for_job(7):
            balances = [client.get_account_balance()["AvailableBalance"] for _ in range(10)]
        gate.flush()
    finally:
        mturk.use_call_gate(None)
        mturk.forget_clients()
        running.stop()
    failed = running.faults.throttled + running.faults.unavailable
    assert balances == ["10000.00"] * 10
    assert failed > 0
    with reading(engine) as session:
        counted = call_counts(session, 7)
    dispose_engine(db_url)
    throttled = running.faults.throttled if fault == "throttle" else 0
    assert counted == {"GetAccountBalance": {"calls": 10 + failed, "throttled": throttled}}


def test_the_slots_of_the_shared_bucket(db_url) -> None:
    """At 10 calls a second a full bucket lets 10 calls go at once; the next ones wait their turn
    (1/10 s apart), whichever daemon asks; an idle second fills the bucket again."""
    engine = get_engine(db_url)
    try:
        waits = []
        for _ in range(13):
            with transaction(engine) as session:
                waits.append(round(take_slot(session, "local:KEY", 10.0, now=1000.0), 6))
        with transaction(engine) as session:
            later = take_slot(session, "local:KEY", 10.0, now=1002.5)
        with transaction(engine) as session:
            other = take_slot(session, "local:OTHER", 10.0, now=1000.0)
    finally:
        dispose_engine(db_url)
    assert waits == [0.0] * 10 + [0.1, 0.2, 0.3]
    assert later == 0.0 and other == 0.0  # refilled; another account has its own bucket


def test_two_daemons_share_one_limit_and_the_marketplace_never_throttles(tmp_path) -> None:
    """Two clients (two engines on one DB: two daemons) at a shared 15 calls a second against a
    marketplace allowing 20 a second per key: no call is ever refused, and together they keep the
    limit (after the first second's burst, 15 a second)."""
    db_url = f"sqlite:///{tmp_path}/b.db"
    running = start_in_thread(MarketplaceConfig(db_path=":memory:", faults=FaultConfig(rate_limit_per_second=20)))
    settings = load_settings(db_url=db_url, local_endpoint_url=running.endpoint_url, local_calls_per_second=15)
    engine = get_engine(db_url)
    target = mturk.resolve_target("local", settings)
    mturk.forget_clients()
    mturk.use_call_gate(DatabaseCallGate(engine, rates_from_settings(settings)))
    first, second = mturk.client_for(target), mturk.client_for(target, quick=True)  # two clients, one account
    results: list[str] = []

    def calls(client) -> None:
        results.extend(client.get_account_balance()["AvailableBalance"] for _ in range(30))

    try:
        started = time.monotonic()
        threads = [threading.Thread(target=calls, args=(c,)) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        mturk.use_call_gate(None)
        mturk.forget_clients()
        running.stop()
        dispose_engine(db_url)
    assert results == ["10000.00"] * 60
    assert running.faults.rate_limited == 0
    assert elapsed >= (60 - 15) / 15
