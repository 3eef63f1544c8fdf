"""Which work each stage may do now, and which daemon does it.

Two ways of sharing, by stage. Publish and review claim their rows: a batch of HIT rows to
create, or of assignments to approve, is locked with SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL for the transaction that makes the MTurk calls and records their outcome, so several
daemons work on one job's publish and review side by side, each on rows the others skip (a killed
daemon's locks go with its connection). On SQLite, which has one writer at a time, a claim is
every row asked for that is still in the state the stage works on. The other stages take a
lease per (job, stage), below.

A stage asks here for the jobs it may work on instead of writing its own query: every job in
the stage's states. Several daemons may share one DB (PostgreSQL, on several machines): before
running a stage for a job, a daemon takes that (job, stage)'s lease, a row naming the daemon
and an expiry, renewed while it runs the stage and given back when it stops. While one daemon
holds it the others pass the job by (they run other jobs, or other stages of it), so no two
daemons make the same MTurk calls. A lease held by a daemon that was killed is taken over once it expires, or at once
by a daemon on the same host that sees the holder's process is gone. Correctness never rests on
leases (status changes are guarded updates, HITs carry idempotency tokens, money is checked
with the job row locked); they keep daemons from doing the same work twice.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from broker.domain.clock import utcnow
from broker.domain.lifecycle import JOBS_OPEN, JOBS_TAKING_INPUT, JOBS_WINDING_UP, HitStatus, JobStatus, ReviewStatus
from broker.store.engine import Engine, transaction
from broker.store.jobs import jobs_in
from broker.store.tables import Assignment, Daemon, Hit, Job, StageLease

LEASE_SECONDS = 300.0  # longer than any one stage's work for one job; renewed each time it is taken
_TOKEN = secrets.token_hex(4)

# stages whose rows are claimed batch by batch (no lease): several daemons share one job's work
ROW_CLAIMED_STAGES = frozenset({"publish", "review"})
_HELD: ContextVar[tuple[Engine, int, str] | None] = ContextVar("held_lease", default=None)

# stage -> the job statuses it works on
STAGE_JOB_STATES: dict[str, frozenset[JobStatus]] = {
    "intake": JOBS_TAKING_INPUT,
    "publish": JOBS_OPEN,
    "collect": JOBS_WINDING_UP,
    "review": JOBS_WINDING_UP,
    "quality": JOBS_OPEN,
    "consolidate": JOBS_WINDING_UP,
    "autolabel": JOBS_OPEN,
    "output": JOBS_WINDING_UP,
    "finalize": JOBS_WINDING_UP,
}


def claim_jobs(session: Session, stage: str, job_ids: Iterable[int] | None = None) -> list[Job]:
    """The jobs `stage` may work on now (optionally only among `job_ids`): in the stage's states and
    not finalized (a cancelled job keeps its status when finalize closes it)."""
    return [job for job in jobs_in(session, STAGE_JOB_STATES[stage], job_ids) if job.completed_at is None]


def this_daemon() -> str:
    """This process's lease owner name: host, pid and a random token (a reused pid is another daemon)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_TOKEN}"


def _holder_gone(owner: str) -> bool:
    """True when `owner` was a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or owner == this_daemon():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: alive
        return False
    return False


def take_lease(engine: Engine, job_id: int, stage: str, seconds: float = LEASE_SECONDS) -> bool:
    """Take (or renew) the lease on `stage` of job `job_id` for this daemon; False when another holds it."""
    me, now = this_daemon(), utcnow()
    until = now + timedelta(seconds=seconds)
    try:
        with transaction(engine) as session:
            lease = session.get(StageLease, (job_id, stage))
            if lease is None:
                session.add(StageLease(job_id=job_id, stage=stage, owner=me, expires_at=until))
                return True
            assert lease.expires_at is not None
            if lease.owner == me and (lease.expires_at - now).total_seconds() > seconds / 2:
                return True  # ours, with time to run: nothing to write
            if lease.owner != me and lease.expires_at > now and not _holder_gone(lease.owner):
                return False
            # compare-and-set on what was read: of two daemons taking over the same lease, one wins
            taken = session.execute(
                update(StageLease)
                .where(
                    StageLease.job_id == job_id,
                    StageLease.stage == stage,
                    StageLease.owner == lease.owner,
                    StageLease.expires_at == lease.expires_at,
                )
                .values(owner=me, expires_at=until)
                .execution_options(synchronize_session=False)
            )
            return taken.rowcount == 1
    except IntegrityError:  # another daemon inserted the lease first
        return False


def release_lease(engine: Engine, job_id: int | None = None, stage: str | None = None) -> None:
    """Give back this daemon's leases (all, or one job's, or one stage of one job); others' are left alone."""
    conditions = [StageLease.owner == this_daemon()]
    if job_id is not None:
        conditions.append(StageLease.job_id == job_id)
    if stage is not None:
        conditions.append(StageLease.stage == stage)
    with transaction(engine) as session:
        session.execute(
            update(StageLease)
            .where(*conditions)
            .values(expires_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def _skip_locked(session: Session, column: Any, ids: Iterable[int], *where: Any) -> set[int]:
    """The ids among `ids` still in the wanted state (`where`) that no other transaction holds, now
    locked by this one until it ends. SQLite has no row locks (and one writer at a time): the ids
    still in the wanted state, read without holding anything."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    query = select(column).where(column.in_(wanted), *where)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return set(session.execute(query).scalars())


def claim_creating_hits(session: Session, hit_ids: Iterable[int]) -> set[int]:
    """The HIT rows still "creating" that this transaction may create on MTurk (see the module doc)."""
    return _skip_locked(session, Hit.id, hit_ids, Hit.status == HitStatus.CREATING)


def claim_unreviewed(session: Session, assignment_row_ids: Iterable[int]) -> set[int]:
    """The assignment rows still awaiting review that this transaction may approve or reject."""
    return _skip_locked(session, Assignment.id, assignment_row_ids, Assignment.review_status == ReviewStatus.PENDING)


class holding_lease:  # noqa: N801 (used as a context manager, like contextlib's)
    """While a stage runs for a job under its lease, `renew_lease()` keeps that lease (the stage
    calls it between batches of a long run)."""

    def __init__(self, engine: Engine, job_id: int, stage: str) -> None:
        self._value = (engine, job_id, stage)

    def __enter__(self) -> None:
        self._token = _HELD.set(self._value)

    def __exit__(self, *exc: object) -> None:
        _HELD.reset(self._token)


def renew_lease() -> bool:
    """Renew the lease this thread works under (a write only past half its time); True when it is
    still ours or there is none (row-claimed stages, `broker collect --once` in one process)."""
    held = _HELD.get()
    if held is None:
        return True
    engine, job_id, stage = held
    return take_lease(engine, job_id, stage)


def register_daemon(engine: Engine, settings_digest: str, settings_file: str) -> list[tuple[str, str]]:
    """Record this daemon's settings; (owner, settings file) of the daemons still running (seen
    within a lease's time, or holding a lease) that started with other settings."""
    me, now = this_daemon(), utcnow()
    recent = now - timedelta(seconds=LEASE_SECONDS)
    with transaction(engine) as session:
        session.merge(Daemon(owner=me, settings_digest=settings_digest, settings_file=settings_file, seen_at=now))
        leased = set(session.execute(select(StageLease.owner).where(StageLease.expires_at > now)).scalars())
        others = session.execute(select(Daemon).where(Daemon.owner != me)).scalars().all()
        return [
            (daemon.owner, daemon.settings_file)
            for daemon in others
            if daemon.settings_digest != settings_digest
            and (daemon.seen_at >= recent or daemon.owner in leased)
            and not _holder_gone(daemon.owner)
        ]
