"""Sign-in rate limits: wrong passwords lock an account (and a flood of them an address) for a while.

Failures are counted per account name and per client address within a sliding window on the
marketplace's clock; past the limit every sign-in for that account (or from that address) is
refused, the right password included, until the lockout ends. A successful sign-in clears its
account's count. The caller passes no address for a peer that should not be limited as one (a
loopback peer: the simulated crowd, or a reverse proxy that all workers come through) or for a
name with no account (bots sign in before their first sign-up). State is in memory: a restart
forgets it, which only the site's operator can cause.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

ACCOUNT_FAILURES = 5  # wrong passwords for one account name within WINDOW ...
ADDRESS_FAILURES = 50  # ... or from one client address, for any names (many workers may share a NAT)
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
INVITE_FAILURES = 20  # wrong invite codes from one client address within WINDOW
PRUNE_ABOVE = 10_000  # tracked names and addresses before stale ones are dropped (bounded memory)


@dataclass(frozen=True)
class Lockout:
    """Why sign-in is refused and until when (marketplace time)."""

    scope: str  # "account" or "address"
    until: datetime

    def message(self) -> str:
        whom = "this account" if self.scope == "account" else "your network address"
        return f"Too many failed sign-ins for {whom}. Try again after {self.until.strftime('%Y-%m-%d %H:%M:%S UTC')}."


class SignInLimiter:
    """Thread-safe failure counts; `now` is the marketplace clock, so tests move time with it."""

    def __init__(
        self,
        now: Callable[[], datetime],
        account_failures: int = ACCOUNT_FAILURES,
        address_failures: int = ADDRESS_FAILURES,
        window: timedelta = WINDOW,
        lockout: timedelta = LOCKOUT,
    ) -> None:
        self._now = now
        self._limits = {"account": account_failures, "address": address_failures}
        self._window = window
        self._lockout = lockout
        self._failures: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self._locked_until: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("account", username.casefold())]
        return keys + [("address", address)] if address is not None else keys

    def locked(self, username: str, address: str | None) -> Lockout | None:
        """The lockout in force for this account name or address, if any."""
        now = self._now()
        with self._lock:
            for key in self._keys(username, address):
                until = self._locked_until.get(key)
                if until is not None and until > now:
                    return Lockout(key[0], until)
                self._locked_until.pop(key, None)
        return None

    def failed(self, username: str, address: str | None) -> Lockout | None:
        """Count one wrong password; the lockout it starts, if it reaches a limit."""
        now = self._now()
        started: Lockout | None = None
        with self._lock:
            if len(self._failures) > PRUNE_ABOVE:
                self._prune(now)
            for key in self._keys(username, address):
                times = self._failures[key]
                times.append(now)
                while times and times[0] <= now - self._window:
                    times.popleft()
                if len(times) >= self._limits[key[0]]:
                    until = now + self._lockout
                    self._locked_until[key] = until
                    times.clear()
                    started = started or Lockout(key[0], until)
        return started

    def _prune(self, now: datetime) -> None:
        stale = [key for key, times in self._failures.items() if not times or times[-1] <= now - self._window]
        for key in stale:
            del self._failures[key]
        for key in [key for key, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]

    def succeeded(self, username: str) -> None:
        """A right password outside any lockout clears the account's count."""
        with self._lock:
            self._failures.pop(("account", username.casefold()), None)


def invite_limiter(now: Callable[[], datetime]) -> SignInLimiter:
    """Wrong invite codes, counted per client address (passed as the name): INVITE_FAILURES in WINDOW
    lock the address out of using invites for LOCKOUT. Codes have 60 random bits; this stops bulk guessing."""
    return SignInLimiter(now, account_failures=INVITE_FAILURES)
