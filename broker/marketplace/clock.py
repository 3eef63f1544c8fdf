"""The marketplace's clock: wall time, optionally sped up, that tests can move forward."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """now() = start + (wall time elapsed) * speed + manual offset; always aware UTC.

    Expiry, abandonment and auto-approval are evaluated against now() on every call,
    so `advance(seconds)` is all a test needs to make time pass. A clock that does not follow
    the wall (a discrete-event simulation's) stands still until advanced: what happens at a
    simulated time then never depends on how busy the machine is.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None, follows_wall: bool = True) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self.follows_wall = follows_wall
        self._wall_start = datetime.now(UTC)
        if start is None:  # a simulation starts on a whole second, so its times repeat to the microsecond
            start = self._wall_start if follows_wall else self._wall_start.replace(microsecond=0)
        self._start = start.astimezone(UTC)
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if not self.follows_wall:
                return self._start + self._offset
            return self._start + (datetime.now(UTC) - self._wall_start) * self.speed + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move time forward (tests); returns the new now()."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def advance_to(self, moment: datetime) -> datetime:
        """Move time forward to `moment` (no-op if it has passed); returns the new now()."""
        ahead = (moment - self.now()).total_seconds()
        return self.advance(ahead) if ahead > 0 else self.now()
