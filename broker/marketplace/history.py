"""Work histories of simulated workers: how many HITs they had approved elsewhere, and at what rate.

MTurk's system qualifications Worker_NumberHITsApproved (00000000000000000040) and
Worker_PercentAssignmentsApproved (000000000000000000L0) count a worker's whole history, not just
this requester's HITs. A new account on the local marketplace has none, so a HIT that requires
`approved_count: 100` finds nobody; a history distribution gives each new account a history drawn
from it, fixed by the seed and the WorkerId:

    approved=1000:1.5,approval=95-100

approved HITs log-normal with median 1000 and log-sd 1.5 (":1.5" optional, default 1.0); approval
rate uniform between 95% and 100% (one value: everyone the same). These are assumptions chosen to
look like an experienced crowd, not measurements.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HistoryDistribution:
    approved_median: float
    approved_log_sd: float
    approval_low: float  # percent
    approval_high: float

    def draw(self, seed: int, worker_id: str) -> tuple[int, int]:
        """(approved, submitted) HITs of this worker's history, the same for a seed and WorkerId."""
        digest = hashlib.blake2b(f"history\x1f{seed}\x1f{worker_id}".encode(), digest_size=8).digest()
        rng = np.random.default_rng(int.from_bytes(digest, "big"))
        approved = int(round(float(np.exp(rng.normal(np.log(self.approved_median), self.approved_log_sd)))))
        rate = float(rng.uniform(self.approval_low, self.approval_high)) / 100.0
        submitted = approved if rate >= 1.0 or approved == 0 else int(approved / rate)  # rounded down: the rate holds
        return approved, max(submitted, approved)


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"worker history: {what} {text!r} is not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"worker history: {what} {text!r} is not a number")
    return value


def parse_history(text: str) -> HistoryDistribution:
    """'approved=1000:1.5,approval=95-100' -> a distribution; errors name the bad part."""
    parts: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in ("approved", "approval"):
            raise ValueError(f"worker history: {part!r} is not approved=MEDIAN[:LOG_SD] or approval=LOW-HIGH")
        parts[name.strip()] = value.strip()
    if "approved" not in parts:
        raise ValueError("worker history: give approved=MEDIAN[:LOG_SD], e.g. approved=1000:1.5,approval=95-100")
    median_text, _, spread_text = parts["approved"].partition(":")
    median = _number(median_text, "approved median")
    spread = _number(spread_text, "approved log-sd") if spread_text else 1.0
    if median <= 0 or spread < 0:
        raise ValueError("worker history: the approved median must be positive and its log-sd not negative")
    low_text, _, high_text = parts.get("approval", "100").partition("-")
    low = _number(low_text, "approval rate")
    high = _number(high_text, "approval rate") if high_text else low
    if not 0 <= low <= high <= 100:
        raise ValueError("worker history: the approval rate is LOW-HIGH percent, 0 <= LOW <= HIGH <= 100")
    return HistoryDistribution(median, spread, low, high)
