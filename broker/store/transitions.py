"""Every status change: a guarded UPDATE that moves only rows in an allowed source state.

``advance(session, Hit, ids, HitStatus.OPEN)`` runs
``UPDATE hit SET status='open' WHERE id IN (...) AND status IN ('creating')`` and records
one event. When fewer rows moved than were named, the transaction is refused with
TransitionError (strict, the default), or the rows that moved are returned (``strict=False``,
for claims where another daemon may have moved a row first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from broker.domain.lifecycle import (
    OBJECTS_FINISHED,
    HitStatus,
    JobStatus,
    ObjectStatus,
    ReviewStatus,
    TransitionError,
    allowed_sources,
)
from broker.store.events import record_event
from broker.store.tables import Assignment, DataObject, Hit, Job

# the table and status column that each kind of status lives in
_COLUMNS: dict[type[StrEnum], tuple[Any, str]] = {
    JobStatus: (Job, "status"),
    ObjectStatus: (DataObject, "status"),
    HitStatus: (Hit, "status"),
    ReviewStatus: (Assignment, "review_status"),
}

TRANSITION_EVENT = "status"


def advance(
    session: Session,
    ids: Iterable[int],
    to: StrEnum,
    *,
    job_id: int | None = None,
    strict: bool = True,
    values: dict[str, Any] | None = None,
    note: str = "",
) -> list[int]:
    """Move the rows `ids` to status `to` (and set `values` on them); return the ids that moved.

    Only rows whose current status may precede `to` move. With `strict`, any named row that
    did not move raises TransitionError naming its status, and the caller's transaction rolls
    back. One event per call records the move (`job_id` says whose log it goes to).
    """
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    session.flush()  # pending ORM changes first: the moved rows are expired below
    table, column_name = _COLUMNS[type(to)]
    column = getattr(table, column_name)
    sources = allowed_sources(to)
    before = dict(session.execute(select(table.id, column).where(table.id.in_(ids))).all()) if strict else {}
    result = session.execute(
        update(table)
        .where(table.id.in_(ids), column.in_([s.value for s in sources]))
        .values({column_name: to.value, **(values or {})})
        .returning(table.id),
        execution_options={"synchronize_session": False},
    )
    moved = [row[0] for row in result]
    if strict and len(moved) < len(ids):
        stuck = Counter(str(before.get(i, "missing")) for i in set(ids) - set(moved))
        raise TransitionError(
            f"{table.__tablename__}: {len(ids) - len(moved)} of {len(ids)} rows cannot move to {to.value!r} "
            f"(they are {', '.join(f'{n} {s}' for s, n in sorted(stuck.items()))}; allowed from "
            f"{', '.join(sorted(s.value for s in sources))})"
        )
    if moved:
        if table is DataObject and to in OBJECTS_FINISHED:
            _bump_outcomes(session, moved)
        _expire(session, table, moved)
        if job_id is None and table is Job:
            job_id = moved[0]
        record_event(
            session,
            job_id,
            TRANSITION_EVENT,
            f"{table.__tablename__}: {len(moved)} -> {to.value}" + (f" ({note})" if note else ""),
        )
    return moved


def _bump_outcomes(session: Session, object_ids: list[int]) -> None:
    """The jobs of objects that reached an outcome need their output tree written again."""
    jobs = select(DataObject.job_id).where(DataObject.id.in_(object_ids)).distinct()
    session.execute(
        update(Job).where(Job.id.in_(jobs)).values(outcomes_version=Job.outcomes_version + 1),
        execution_options={"synchronize_session": False},
    )


def _expire(session: Session, table: Any, ids: list[int]) -> None:
    """ORM objects of the moved rows that this session holds are reloaded on next access."""
    wanted = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, table) and obj.id in wanted:
            session.expire(obj)
