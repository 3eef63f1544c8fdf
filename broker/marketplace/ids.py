"""Identifiers shaped like MTurk's."""

from __future__ import annotations

import secrets
import string

ALPHABET = string.ascii_uppercase + string.digits


def random_id(length: int = 30) -> str:
    """30 upper-case alphanumerics, like HIT, HIT type and assignment ids."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def worker_id() -> str:
    """'A' + 13 upper-case alphanumerics, like a WorkerId."""
    return "A" + random_id(13)
