"""The broker's clock."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Timezone-aware UTC: every time the broker stores or compares."""
    return datetime.now(timezone.utc)
