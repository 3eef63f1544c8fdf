"""Settings of the embedded marketplace: where its state lives, its keys, its money, its faults."""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_ACCESS_KEY_ID = "AKIALOCALMARKETPLACE"
DEFAULT_SECRET_ACCESS_KEY = "local-marketplace-secret"


class FaultConfig(BaseModel):
    """Faults the requester API injects, so clients' retry paths are exercised for real."""

    throttle_probability: float = Field(0.0, ge=0.0, le=1.0)
    unavailable_probability: float = Field(0.0, ge=0.0, le=1.0)
    latency_seconds: float = Field(0.0, ge=0.0)
    drop_notification_probability: float = Field(0.0, ge=0.0, le=1.0)
    seed: int | None = None
    # requester calls per second per access key, as MTurk limits them (None: unlimited); a call
    # beyond the limit gets MTurk's ThrottlingException. Bursts of up to one second's calls pass.
    rate_limit_per_second: float | None = Field(None, gt=0.0)


class MarketplaceConfig(BaseModel):
    """Everything `start_in_thread` and `broker marketplace serve` need."""

    db_path: str = ":memory:"
    host: str = "127.0.0.1"
    port: int = 0
    access_key_id: str = DEFAULT_ACCESS_KEY_ID
    secret_access_key: str = DEFAULT_SECRET_ACCESS_KEY
    region: str = "us-east-1"
    initial_balance_cents: int = Field(1_000_000, ge=0)
    file_roots: list[str] = Field(default_factory=list)
    time_scale: float = Field(1.0, gt=0.0)
    # A simulated run's marketplace: the clock stands still until the simulation moves it
    # (Clock.advance_to) and ids come from this seed, so the same run gives the same records.
    simulated_clock: bool = False
    id_seed: int | None = None
    faults: FaultConfig = Field(default_factory=FaultConfig)
    requester_name: str = "Local Requester"
    requester_account_id: str = "123456789012"
    max_clock_skew_seconds: int = 15 * 60
    # SQS/SNS delivery of notifications: the endpoint is taken from the queue URL when it
    # is not an amazonaws.com host (e.g. moto's server); these are the credentials used.
    notification_access_key_id: str = "testing"
    notification_secret_access_key: str = "testing"
