"""Fault injection for the requester API: throttling, 503s, latency (seeded, for tests)."""

from __future__ import annotations

import random
import threading

from broker.marketplace.config import FaultConfig
from broker.marketplace.errors import WireError


class FaultInjector:
    def __init__(self, faults: FaultConfig) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()
        self.throttled = 0
        self.unavailable = 0

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
