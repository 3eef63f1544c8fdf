"""The marketplace's clock: wall time, optionally sped up, that tests can move forward."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """now() = start + (wall time elapsed) * speed + manual offset; always aware UTC.

    Expiry, abandonment and auto-approval are evaluated against now() on every call,
    so `advance(seconds)` is all a test needs to make time pass.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._wall_start = datetime.now(UTC)
        self._start = start.astimezone(UTC) if start else self._wall_start
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        elapsed = datetime.now(UTC) - self._wall_start
        with self._lock:
            return self._start + elapsed * self.speed + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move time forward (tests); returns the new now()."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()
