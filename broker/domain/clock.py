"""The broker's clock: the wall clock, or a simulation's while one runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """Timezone-aware UTC: every time the broker stores or compares."""
    return _source() if _source is not None else datetime.now(UTC)


@contextmanager
def simulated_time(now: Callable[[], datetime]) -> Iterator[None]:
    """Read the time from `now` (a simulated marketplace's clock) inside the block.

    A simulation moves the marketplace's clock by events, not by the wall; the broker then
    stamps its rows, deadlines and reports in that same time, so one run has one clock.
    """
    global _source
    previous, _source = _source, now
    try:
        yield
    finally:
        _source = previous
