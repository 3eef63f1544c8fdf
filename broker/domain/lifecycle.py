"""The states of jobs, data objects, HITs and assignments, and the only moves between them.

One table says which status may follow which. The store applies a move as a guarded
UPDATE (``... WHERE status IN (allowed sources)``), so a row that another daemon (or an
earlier run) already moved is never moved twice, and a move the table does not allow
raises instead of passing silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class JobStatus(StrEnum):
    ACTIVE = "Active"
    STOPPING = "Stopping"  # a streaming job told to stop: takes no new objects, finishes the ones it has
    CANCELLED = "Cancelled"
    COMPLETED = "Completed"


class ObjectStatus(StrEnum):
    HELD = "held"  # auto-label job: not released to the crowd yet
    PENDING = "pending"  # waiting for a HIT (first one, or more answers after an exclusion)
    PUBLISHED = "published"  # a HIT is open for it
    ANSWERED = "answered"  # its HIT finished; answers stored, not consolidated yet
    CONSOLIDATED = "consolidated"
    MACHINE_LABELED = "machine-labeled"  # labeled by the auto-label model
    CARRIED = "carried"  # copied to the output as is, never posted (chaining, or a PRE hook said so)
    FAILED = "failed"


class HitStatus(StrEnum):
    CREATING = "creating"  # row + token committed, CreateHIT not confirmed yet
    OPEN = "open"  # exists on the marketplace, may still get answers
    COLLECTED = "collected"  # answers stored; the HIT stays Reviewable on the marketplace
    DONE = "done"  # answers stored and the HIT marked Reviewing on the marketplace
    CANCELLED = "cancelled"  # never created (render failure) or given up


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


Status = JobStatus | ObjectStatus | HitStatus | ReviewStatus

# target status -> the statuses it may be reached from
TRANSITIONS: Mapping[type[StrEnum], Mapping[StrEnum, frozenset[StrEnum]]] = {
    JobStatus: {
        JobStatus.STOPPING: frozenset({JobStatus.ACTIVE}),
        JobStatus.CANCELLED: frozenset({JobStatus.ACTIVE, JobStatus.STOPPING}),
        JobStatus.COMPLETED: frozenset({JobStatus.ACTIVE, JobStatus.STOPPING}),
    },
    ObjectStatus: {
        ObjectStatus.PENDING: frozenset(
            {ObjectStatus.HELD, ObjectStatus.ANSWERED, ObjectStatus.CONSOLIDATED, ObjectStatus.FAILED}
        ),
        ObjectStatus.PUBLISHED: frozenset({ObjectStatus.PENDING}),
        ObjectStatus.ANSWERED: frozenset({ObjectStatus.PENDING, ObjectStatus.PUBLISHED}),
        ObjectStatus.CONSOLIDATED: frozenset({ObjectStatus.ANSWERED}),
        ObjectStatus.MACHINE_LABELED: frozenset({ObjectStatus.HELD}),
        ObjectStatus.FAILED: frozenset(
            {ObjectStatus.HELD, ObjectStatus.PENDING, ObjectStatus.PUBLISHED, ObjectStatus.ANSWERED}
        ),
    },
    HitStatus: {
        HitStatus.OPEN: frozenset({HitStatus.CREATING}),
        HitStatus.COLLECTED: frozenset({HitStatus.OPEN}),
        HitStatus.DONE: frozenset({HitStatus.OPEN, HitStatus.COLLECTED}),
        HitStatus.CANCELLED: frozenset({HitStatus.CREATING}),
    },
    ReviewStatus: {
        ReviewStatus.APPROVED: frozenset({ReviewStatus.PENDING}),
        ReviewStatus.REJECTED: frozenset({ReviewStatus.PENDING}),
    },
}

# the status a new row starts in (rows copied from the marketplace may start in any review status)
INITIAL: Mapping[type[StrEnum], frozenset[StrEnum]] = {
    JobStatus: frozenset({JobStatus.ACTIVE}),
    ObjectStatus: frozenset({ObjectStatus.HELD, ObjectStatus.PENDING, ObjectStatus.CARRIED}),
    HitStatus: frozenset({HitStatus.CREATING}),
    ReviewStatus: frozenset(ReviewStatus),
}


# ------------------------------------------------------------------------------------ groups

JOBS_TAKING_INPUT = frozenset({JobStatus.ACTIVE})  # a streaming job takes new objects from its input
JOBS_OPEN = frozenset({JobStatus.ACTIVE, JobStatus.STOPPING})  # may publish new work (objects it already has)
JOBS_WINDING_UP = frozenset({JobStatus.ACTIVE, JobStatus.STOPPING, JobStatus.CANCELLED})  # answers still collected
JOBS_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.CANCELLED})

OBJECTS_UNFINISHED = frozenset({ObjectStatus.HELD, ObjectStatus.PENDING, ObjectStatus.PUBLISHED, ObjectStatus.ANSWERED})
OBJECTS_WITH_CROWD = frozenset({ObjectStatus.PENDING, ObjectStatus.PUBLISHED, ObjectStatus.ANSWERED})
OBJECTS_LABELED = frozenset({ObjectStatus.CONSOLIDATED, ObjectStatus.MACHINE_LABELED})
OBJECTS_FINISHED = frozenset(
    {ObjectStatus.CONSOLIDATED, ObjectStatus.MACHINE_LABELED, ObjectStatus.CARRIED, ObjectStatus.FAILED}
)

HITS_OPEN = frozenset({HitStatus.CREATING, HitStatus.OPEN})  # count against max_concurrent_hits
HITS_FINISHED = frozenset({HitStatus.COLLECTED, HitStatus.DONE, HitStatus.CANCELLED})

ASSIGNMENTS_PAYABLE = frozenset({ReviewStatus.PENDING, ReviewStatus.APPROVED})  # may cost money
ASSIGNMENTS_DECIDED = frozenset({ReviewStatus.APPROVED, ReviewStatus.REJECTED})


class TransitionError(RuntimeError):
    """A status change the lifecycle table does not allow, or rows that were not in an allowed state."""


def allowed_sources(target: StrEnum) -> frozenset[StrEnum]:
    """The statuses `target` may be reached from; TransitionError for a status nothing moves to."""
    sources = TRANSITIONS[type(target)].get(target)
    if sources is None:
        raise TransitionError(f"no {type(target).__name__} moves to {target.value!r}")
    return sources


def may_move(source: StrEnum, target: StrEnum) -> bool:
    return type(source) is type(target) and source in TRANSITIONS[type(target)].get(target, frozenset())


def check_move(source: str, target: StrEnum) -> None:
    """Raise TransitionError unless `source` -> `target` is in the table."""
    if not may_move(type(target)(source), target):
        raise TransitionError(f"{type(target).__name__}: {source!r} -> {target.value!r} is not allowed")
