"""Fault injection: a boto3 client with standard retries completes a batch under 20% throttling."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from broker.marketplace.config import FaultConfig, MarketplaceConfig
from broker.marketplace.errors import WireError
from broker.marketplace.faults import FaultInjector
from broker.marketplace.server import start_in_thread
from tests.marketplace.conftest import HTML_QUESTION


def test_standard_retries_complete_a_batch_under_20_percent_throttling(tmp_path):
    config = MarketplaceConfig(
        db_path=str(tmp_path / "f.sqlite3"), faults=FaultConfig(throttle_probability=0.2, seed=1)
    )
    with start_in_thread(config) as running:
        mturk = running.client(retries={"mode": "standard", "max_attempts": 10})
        hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60)[
            "HITTypeId"
        ]
        hit_ids = [
            mturk.create_hit_with_hit_type(
                HITTypeId=hit_type_id,
                LifetimeInSeconds=600,
                Question=HTML_QUESTION,
                UniqueRequestToken=f"batch:{index}",
            )["HIT"]["HITId"]
            for index in range(30)
        ]
        assert len(set(hit_ids)) == 30
        assert running.faults.throttled > 0
        assert len(running.marketplace.hits) == 30


def test_without_retries_throttling_surfaces_as_throttling_exception(tmp_path):
    config = MarketplaceConfig(
        db_path=str(tmp_path / "g.sqlite3"), faults=FaultConfig(throttle_probability=1.0, seed=1)
    )
    with start_in_thread(config) as running:
        mturk = running.client(retries={"mode": "standard", "max_attempts": 1})
        with pytest.raises(ClientError) as error:
            mturk.get_account_balance()
        assert error.value.response["Error"]["Code"] == "ThrottlingException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unavailable_is_http_503_and_retried(tmp_path):
    config = MarketplaceConfig(
        db_path=str(tmp_path / "h.sqlite3"), faults=FaultConfig(unavailable_probability=0.3, seed=3)
    )
    with start_in_thread(config) as running:
        mturk = running.client(retries={"mode": "standard", "max_attempts": 10})
        for _ in range(10):
            assert mturk.get_account_balance()["AvailableBalance"] == "10000.00"
        assert running.faults.unavailable > 0
        bare = running.client(retries={"mode": "standard", "max_attempts": 1})
        statuses = set()
        for _ in range(20):
            try:
                bare.get_account_balance()
                statuses.add(200)
            except ClientError as error:
                statuses.add(error.response["ResponseMetadata"]["HTTPStatusCode"])
        assert statuses == {200, 503}


def test_latency_setting_is_applied(tmp_path):
    config = MarketplaceConfig(db_path=str(tmp_path / "l.sqlite3"), faults=FaultConfig(latency_seconds=0.2))
    with start_in_thread(config) as running:
        assert running.faults.latency_seconds == 0.2
        assert running.client().get_account_balance()["AvailableBalance"] == "10000.00"


def test_rate_limit_is_a_token_bucket_per_access_key():
    """One second's calls pass at once; then one per 1/rate seconds; each key has its own bucket."""
    faults = FaultInjector(FaultConfig(rate_limit_per_second=5))
    for _ in range(5):
        faults.take_call("AKIAONE", now=100.0)
    with pytest.raises(WireError) as error:
        faults.take_call("AKIAONE", now=100.0)
    assert error.value.error_type == "ThrottlingException"
    faults.take_call("AKIATWO", now=100.0)  # another requester account is not slowed down
    faults.take_call("AKIAONE", now=100.2)  # a fifth of a second later: one more token
    with pytest.raises(WireError):
        faults.take_call("AKIAONE", now=100.2)
    assert faults.rate_limited == 2
    FaultInjector(FaultConfig()).take_call("AKIAONE", now=0.0)  # no limit set: never throttled


def test_calls_beyond_the_rate_limit_get_throttling_exception_and_retries_wait_for_it(tmp_path):
    config = MarketplaceConfig(db_path=str(tmp_path / "r.sqlite3"), faults=FaultConfig(rate_limit_per_second=10))
    with start_in_thread(config) as running:
        bare = running.client(retries={"mode": "standard", "total_max_attempts": 1})  # no retry at all
        outcomes = []
        for _ in range(30):
            try:
                bare.get_account_balance()
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
        assert set(outcomes) == {"ok", "ThrottlingException"}
        assert running.faults.rate_limited == outcomes.count("ThrottlingException")
        patient = running.client(retries={"mode": "adaptive", "max_attempts": 20})
        started = time.monotonic()
        for _ in range(25):
            assert patient.get_account_balance()["AvailableBalance"] == "10000.00"
        assert time.monotonic() - started >= 1.0  # 25 calls at 10 per second, after a burst of at most 10
