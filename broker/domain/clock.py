"""The broker's clock."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware UTC: every time the broker stores or compares."""
    return datetime.now(UTC)
