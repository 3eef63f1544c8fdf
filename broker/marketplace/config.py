"""Settings of the embedded marketplace: where its state lives, its keys, its money, its faults."""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, Field, field_validator

from broker.marketplace.history import parse_history

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
    # Private work teams: sign-up only with a team invite (link or code); off for the public crowd.
    invite_only: bool = False
    # Simulated crowds: every new account gets a work history drawn from this distribution
    # (broker.marketplace.history, e.g. "approved=1000:1.5,approval=95-100"); None: none, as on MTurk.
    worker_history: str | None = None
    # The site's address as workers reach it (e.g. https://work.example.org behind a TLS proxy):
    # invite links and the HIT frame's turkSubmitTo are built on it. None: from each request.
    public_url: str | None = None
    # Peers whose X-Forwarded-Proto/-Host/-For headers are believed (reverse proxies): IPs,
    # networks (10.0.0.0/8) or "*". Anyone else's forwarded headers are ignored.
    forwarded_allow_ips: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    requester_account_id: str = "123456789012"
    max_clock_skew_seconds: int = 15 * 60
    # SQS/SNS delivery of notifications: the endpoint is taken from the queue URL when it
    # is not an amazonaws.com host (e.g. moto's server); these are the credentials used.
    notification_access_key_id: str = "testing"
    notification_secret_access_key: str = "testing"

    @field_validator("worker_history")
    @classmethod
    def _worker_history(cls, value: str | None) -> str | None:
        if value is not None:
            parse_history(value)  # a ValueError names the bad part
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError(f"public URL {value!r}: give the site's address, e.g. https://work.example.org")
        return value.rstrip("/")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as error:
                    raise ValueError(f"forwarded-allow-ips: {entry!r} is not an IP address or network") from error
        return value
