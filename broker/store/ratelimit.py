"""MTurk's rate limit per requester account, shared by every daemon through the broker DB.

A token bucket kept as one row per account in GCRA form (the "generic cell rate algorithm"): the
row holds `next_slot`, the time the next call would go if calls ran back to back at the limit.
Taking a call is one atomic statement,

    UPDATE rate_limit SET next_slot = greatest(next_slot, now) + 1/rate WHERE account = ... RETURNING next_slot

after which the caller sleeps until its slot, less the burst tolerance (one second's calls, as a
bucket holding `rate` tokens allows). The row lock of that UPDATE serialises daemons on
PostgreSQL for a moment; on SQLite the write lock does. Nobody reads before writing, so two
daemons never both take the same slot, and no daemon retries in a loop: each waits exactly as
long as its slot is away. Times are each machine's wall clock (NTP-synchronised hosts).

Calls are counted per (job, operation) in memory and added to `mturk_call_count` at most every
FLUSH_SECONDS (and when the daemon stops), so counting costs one small upsert a second, not one
per call; a daemon killed with -9 loses at most that second's counts, never a call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from broker.mturk import MarketplaceTarget
from broker.store.engine import Engine, transaction
from broker.store.tables import MturkCallCount, RateLimit

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0


def _dialect_name(executor: Session | Connection) -> str:
    return executor.dialect.name if isinstance(executor, Connection) else executor.get_bind().dialect.name


@lru_cache(maxsize=4)
def _slot_statement(dialect: str) -> Any:
    """The slot-taking UPDATE, built once per dialect (made anew, it costs as much as running it)."""
    greatest = func.greatest if dialect == "postgresql" else func.max
    return (
        update(RateLimit)
        .where(RateLimit.account == bindparam("slot_account"))
        .values(next_slot=greatest(RateLimit.next_slot, bindparam("now")) + bindparam("interval"))
        .returning(RateLimit.next_slot)
    )


def take_slot(executor: Session | Connection, account: str, rate: float, now: float) -> float:
    """Reserve the account's next call slot at `rate` calls a second; seconds to wait before calling.

    `executor`: a Session or, cheaper for a statement made before every MTurk call, a Connection
    (plain SQL: no ORM bookkeeping around the UPDATE)."""
    interval = 1.0 / rate
    tolerance = (max(1.0, rate) - 1.0) * interval  # a full bucket lets one second's calls go at once
    statement = _slot_statement(_dialect_name(executor))
    values = {"slot_account": account, "now": now, "interval": interval}
    slot = executor.execute(statement, values).scalar()
    if slot is None:  # the account's first call: its row, then the same statement
        _insert_ignoring_conflict(executor, RateLimit, {"account": account, "next_slot": 0.0}, ["account"])
        slot = executor.execute(statement, values).scalar()
    return max(0.0, float(slot) - interval - tolerance - now)


def add_call_counts(session: Session, counts: dict[tuple[int, str], tuple[int, int]]) -> None:
    """Add (calls, throttled) per (job, operation) to the shared counters."""
    dialect = session.get_bind().dialect.name
    for (job_id, operation), (calls, throttled) in sorted(counts.items()):  # sorted: no deadlock between daemons
        insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(MturkCallCount).values(
            job_id=job_id, operation=operation, calls=calls, throttled=throttled
        )
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["job_id", "operation"],
                set_={
                    "calls": MturkCallCount.calls + insert.excluded.calls,
                    "throttled": MturkCallCount.throttled + insert.excluded.throttled,
                },
            )
        )


def call_counts(session: Session, job_id: int | None = None) -> dict[str, dict[str, int]]:
    """operation -> {"calls", "throttled"}: one job's (or, with None, every job's and none's together)."""
    query = select(
        MturkCallCount.operation, func.sum(MturkCallCount.calls), func.sum(MturkCallCount.throttled)
    ).group_by(MturkCallCount.operation)
    if job_id is not None:
        query = query.where(MturkCallCount.job_id == job_id)
    rows = session.exec(query).all()
    return {op: {"calls": int(calls or 0), "throttled": int(throttled or 0)} for op, calls, throttled in sorted(rows)}


def _insert_ignoring_conflict(
    executor: Session | Connection, table: Any, values: dict[str, Any], keys: list[str]
) -> None:
    insert = (pg_insert if _dialect_name(executor) == "postgresql" else sqlite_insert)(table).values(**values)
    executor.execute(insert.on_conflict_do_nothing(index_elements=keys))


@dataclass
class DatabaseCallGate:
    """broker.mturk's CallGate over the broker DB: `rates` maps a target to its calls a second
    (None: no limit, calls are only counted)."""

    engine: Engine
    rates: Callable[[MarketplaceTarget], float | None]
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    _counts: Counter = field(default_factory=Counter)
    _throttled: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _flushed_at: float = field(default_factory=time.monotonic)

    def wait_turn(self, target: MarketplaceTarget) -> None:
        rate = self.rates(target)
        if not rate:
            return
        with self.engine.begin() as connection:  # one transaction: the row's lock is held until it commits
            wait = take_slot(connection, target.account, rate, self.clock())
        if wait > 0:
            self.sleep(wait)

    def record(self, target: MarketplaceTarget, job_id: int, operation: str, *, throttled: bool) -> None:
        with self._lock:
            self._counts[(job_id, operation)] += 1
            self._throttled[(job_id, operation)] += int(throttled)
            due = time.monotonic() - self._flushed_at >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Add the counts gathered since the last flush to the DB (kept for the next one if it fails)."""
        with self._lock:
            counts = {key: (n, self._throttled[key]) for key, n in self._counts.items()}
            self._counts.clear()
            self._throttled.clear()
            self._flushed_at = time.monotonic()
        if not counts:
            return
        try:
            with transaction(self.engine) as session:
                add_call_counts(session, counts)
        except Exception:  # the DB away for a moment: counted again with the next flush
            log.warning("could not record MTurk call counts; keeping them for the next try", exc_info=True)
            with self._lock:
                for key, (calls, throttled) in counts.items():
                    self._counts[key] += calls
                    self._throttled[key] += throttled


def rates_from_settings(settings: Any) -> Callable[[MarketplaceTarget], float | None]:
    """The settings' limit for a target: `local_calls_per_second` for the embedded marketplace (or a
    URL), `mturk_calls_per_second` for production and sandbox."""

    def rate(target: MarketplaceTarget) -> float | None:
        if target.name in ("production", "sandbox"):
            return getattr(settings, "mturk_calls_per_second", None)
        return getattr(settings, "local_calls_per_second", None)

    return rate
