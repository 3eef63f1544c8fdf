"""Identifiers shaped like MTurk's: random by default, a fixed sequence for a seeded marketplace."""

from __future__ import annotations

import random
import secrets
import string
import threading

ALPHABET = string.ascii_uppercase + string.digits


class IdSource:
    """Makes HIT, HIT type, assignment and worker ids.

    Unseeded, ids come from the OS's randomness (as MTurk's are unguessable). Seeded, the same
    calls in the same order give the same ids, so a simulated run repeats exactly: ids order
    HIT groups with equal titles and workers in reports.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(f"crowd-broker-ids:{seed}") if seed is not None else None
        self._lock = threading.Lock()

    def random_id(self, length: int = 30) -> str:
        """`length` upper-case alphanumerics, like HIT, HIT type and assignment ids."""
        if self._random is None:
            return "".join(secrets.choice(ALPHABET) for _ in range(length))
        with self._lock:
            return "".join(self._random.choices(ALPHABET, k=length))

    def worker_id(self) -> str:
        """'A' + 13 upper-case alphanumerics, like a WorkerId."""
        return "A" + self.random_id(13)


_UNSEEDED = IdSource()


def random_id(length: int = 30) -> str:
    return _UNSEEDED.random_id(length)


def worker_id() -> str:
    return _UNSEEDED.worker_id()
