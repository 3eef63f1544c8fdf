"""Fault injection for the requester API: throttling, 503s, latency (seeded, for tests), and
MTurk's rate limit per access key."""

from __future__ import annotations

import random
import threading
import time

from broker.marketplace.config import FaultConfig
from broker.marketplace.errors import WireError


class FaultInjector:
    def __init__(self, faults: FaultConfig) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()
        self.throttled = 0
        self.unavailable = 0
        self.rate_limited = 0
        self._buckets: dict[str, tuple[float, float]] = {}  # access key -> (tokens, at monotonic time)

    @property
    def latency_seconds(self) -> float:
        return self.faults.latency_seconds

    def maybe_fail(self) -> None:
        """Raise the error a busy AWS endpoint gives, with the configured probabilities."""
        with self._lock:
            draw = self._random.random()
            if draw < self.faults.throttle_probability:
                self.throttled += 1
                raise WireError("ThrottlingException", "Rate exceeded", 400)
            if draw < self.faults.throttle_probability + self.faults.unavailable_probability:
                self.unavailable += 1
                raise WireError("ServiceUnavailable", "Service is unavailable. Please try again.", 503)

    def take_call(self, access_key: str, now: float | None = None) -> None:
        """Count one call against the key's rate limit (a token bucket holding one second's calls);
        ThrottlingException when the bucket is empty, as MTurk answers a caller over its limit."""
        rate = self.faults.rate_limit_per_second
        if rate is None:
            return
        now = time.monotonic() if now is None else now
        capacity = max(1.0, rate)
        with self._lock:
            tokens, at = self._buckets.get(access_key, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[access_key] = (tokens, now)
                self.rate_limited += 1
                raise WireError("ThrottlingException", "Rate exceeded", 400)
            self._buckets[access_key] = (tokens - 1.0, now)
