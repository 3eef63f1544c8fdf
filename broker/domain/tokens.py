"""Deterministic UniqueRequestTokens: the same HIT or bonus asked for twice is one on MTurk.

A token is made from what the request is for, never fresh on a retry, and stored before the
call; MTurk remembers a token for 24 hours and answers a repeat with the first result.
"""

from __future__ import annotations

import hashlib
from typing import Any


def request_token(job: Any, object_index: int | str, attempt: int) -> str:
    """Deterministic UniqueRequestToken (<= 64 chars) for one object's HIT attempt of this job."""
    created = job.created_at.isoformat() if job.created_at else ""
    digest = hashlib.sha256(f"{job.name}\x00{created}\x00{object_index}\x00{attempt}".encode()).hexdigest()
    return f"cb-{digest[:48]}"


def requester_annotation(job_name: str, object_index: int, token: str) -> str:
    """Names the job and object on the HIT (<= 255 chars), so orphans can always be traced."""
    return f"crowd-broker job={job_name[:63]} object={object_index} token={token}"[:255]


def bonus_token(assignment_id: str, amount_cents: int, reason: str) -> str:
    """Deterministic: the same bonus asked twice is one bonus (MTurk dedupes the token for 24 h)."""
    digest = hashlib.sha256(f"{assignment_id}\x00{amount_cents}\x00{reason}".encode()).hexdigest()
    return f"cb-bonus-{digest[:40]}"
