"""HITs and the objects they show: what publish, collect and submit read and write.

Rows a tick works on in bulk are read as plain dicts (an ORM object costs ~0.1 ms per row on
the collect path) and written back with bulk UPDATEs; every status change goes through
broker.store.transitions.advance, only for rows whose status actually changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, func, select

from broker.domain.clock import utcnow
from broker.domain.lifecycle import HITS_OPEN, HitStatus, ObjectStatus
from broker.store.events import record_event
from broker.store.tables import Assignment, DataObject, Hit, HitObject, Job
from broker.store.transitions import advance
from broker.verify.batching import cut_batches

OBJECTS_AWAITING_ANSWERS = (ObjectStatus.PENDING, ObjectStatus.PUBLISHED)


# ------------------------------------------------------------------------------ publish: reading


def record_hit_type(session: Session, job_id: int, hit_type_id: str) -> None:
    """Store the job's HITTypeId (created once per job)."""
    session.execute(update(Job).where(Job.id == job_id).values(hit_type_id=hit_type_id))


def open_hit_count(session: Session, job_id: int) -> int:
    """HITs of the job that are open or being created (they count against max_concurrent_hits)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Hit)
            .where(Hit.job_id == job_id, Hit.status.in_([s.value for s in HITS_OPEN]))
        ).one()
    )


def pending_objects(session: Session, job_id: int, limit: int | None = None) -> list[DataObject]:
    """The job's objects waiting for a HIT, in manifest order (the first `limit` of them)."""
    query = (
        select(DataObject)
        .where(DataObject.job_id == job_id, DataObject.status == ObjectStatus.PENDING)
        .order_by(DataObject.index)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def pending_batches(session: Session, job_id: int, spec: Any, limit: int) -> list[list[DataObject]]:
    """Up to `limit` verification batches of the job's pending objects, each sharing one shown label."""
    return cut_batches(pending_objects(session, job_id), spec, limit)


def last_attempts(session: Session, job_id: int, object_ids: Iterable[int]) -> dict[int, int]:
    """object id -> the highest attempt of a HIT that showed it (objects never shown are absent)."""
    ids = list(object_ids)
    if not ids:
        return {}
    found: dict[int, int] = dict(
        session.exec(
            select(Hit.object_id, func.max(Hit.attempt))
            .where(Hit.job_id == job_id, Hit.object_id.in_(ids))
            .group_by(Hit.object_id)
        ).all()
    )
    linked = session.exec(
        select(HitObject.object_id, func.max(Hit.attempt))
        .join(Hit, HitObject.hit_row_id == Hit.id)
        .where(Hit.job_id == job_id, HitObject.object_id.in_(ids))
        .group_by(HitObject.object_id)
    ).all()
    for object_id, attempt in linked:
        found[object_id] = max(attempt, found.get(object_id, attempt))
    return found


# ------------------------------------------------------------------------------ publish: writing


def add_creating_hit(
    session: Session,
    job_id: int,
    objects: Sequence[DataObject],
    *,
    attempt: int,
    token: str,
    max_assignments: int,
    reward_cents: int,
    assignment_cost_cents: int,
    link: bool = False,
) -> Hit:
    """A Hit row in "creating" with its token, for `objects` (the first is Hit.object_id); with
    `link`, its HitObject rows (page order) too. Committed by the caller before CreateHIT is called."""
    hit = Hit(
        job_id=job_id,
        object_id=objects[0].id,
        attempt=attempt,
        token=token,
        max_assignments=max_assignments,
        reward_cents=reward_cents,
        assignment_cost_cents=assignment_cost_cents,
        created_at=utcnow(),
    )
    session.add(hit)
    if link:
        session.flush()
        link_objects(session, hit.id, objects)
    return hit


def mark_published(session: Session, job_id: int, objects: Sequence[DataObject]) -> None:
    """Move these pending objects to "published" (a HIT row now stands for them).

    The ORM objects are detached first, so the caller may still read them after the commit.
    """
    session.flush()
    for obj in objects:
        session.expunge(obj)
    advance(
        session, [obj.id for obj in objects], ObjectStatus.PUBLISHED, job_id=job_id, values={"failure_reason": None}
    )


def pending_object_ids(session: Session, job_id: int) -> list[int]:
    """Ids of the job's objects waiting for a HIT."""
    return list(
        session.exec(
            select(DataObject.id).where(DataObject.job_id == job_id, DataObject.status == ObjectStatus.PENDING)
        )
    )


def fail_objects(session: Session, job_id: int, object_ids: Sequence[int], reason: str) -> None:
    """These objects fail with `reason` (shown in the output manifest)."""
    advance(session, object_ids, ObjectStatus.FAILED, job_id=job_id, values={"failure_reason": reason}, note=reason)


def keep_answers_so_far(session: Session, job_id: int, object_ids: Sequence[int], note: str) -> None:
    """Pending objects that already have answers go back to "answered" without more (they are
    consolidated from the answers they have)."""
    advance(session, object_ids, ObjectStatus.ANSWERED, job_id=job_id, note=note)


def creating_hits(session: Session, job_id: int) -> list[tuple[Hit, DataObject]]:
    """Hit rows of the job still in "creating" (their CreateHIT not confirmed), with their first object."""
    return list(
        session.exec(
            select(Hit, DataObject)
            .join(DataObject, Hit.object_id == DataObject.id)
            .where(Hit.job_id == job_id, Hit.status == HitStatus.CREATING)
        ).all()
    )


def confirm_created(session: Session, job_id: int, created: Sequence[tuple[int, str, datetime | None]]) -> None:
    """(hit row id, HITId, expiry) of HITs that now exist on the marketplace: "creating" -> "open".

    A row another process confirmed first keeps its state (the same token gave the same HITId).
    """
    if not created:
        return
    session.execute(
        update(Hit), [{"id": row_id, "hit_id": hit_id, "expires_at": expires} for row_id, hit_id, expires in created]
    )
    advance(session, [row_id for row_id, _, _ in created], HitStatus.OPEN, job_id=job_id, strict=False)


def cancel_uncreatable(session: Session, job_id: int, failed: Sequence[tuple[int, int, str]]) -> None:
    """(hit row id, object id, reason) of HITs that could not be made (render failure): the row is
    cancelled and its objects fail with the reason."""
    for row_id, object_id, reason in failed:
        advance(session, [row_id], HitStatus.CANCELLED, job_id=job_id, strict=False)
        members = [member for member, _ in batch_members(session, [row_id]).get(row_id, [])] or [object_id]
        advance(session, members, ObjectStatus.FAILED, job_id=job_id, strict=False, values={"failure_reason": reason})
        record_event(session, job_id, "object-failed", reason)


# ------------------------------------------------------------------------------ verification batches


def link_objects(session: Session, hit_row_id: int, objects: Sequence[DataObject]) -> None:
    session.add_all(
        HitObject(hit_row_id=hit_row_id, object_id=obj.id, position=position) for position, obj in enumerate(objects)
    )


def hit_objects(session: Session, hit_row_ids: list[int]) -> dict[int, list[DataObject]]:
    """hit row id -> its objects in page order (HITs without links are absent)."""
    members = batch_members(session, hit_row_ids)
    ids = [object_id for batch in members.values() for object_id, _ in batch]
    by_id = {obj.id: obj for obj in session.exec(select(DataObject).where(DataObject.id.in_(ids)))}
    return {hit: [by_id[object_id] for object_id, _ in batch] for hit, batch in members.items()}


def batch_members(session: Session, hit_row_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """hit row id -> (object id, datasetObjectId) of its objects, in page order."""
    return {
        hit: [(object_id, index) for object_id, index, _ in members]
        for hit, members in _members_with_status(session, hit_row_ids).items()
    }


def _members_with_status(session: Session, hit_row_ids: list[int]) -> dict[int, list[tuple[int, int, str]]]:
    rows = session.exec(
        select(HitObject.hit_row_id, DataObject.id, DataObject.index, DataObject.status)
        .join(DataObject, HitObject.object_id == DataObject.id)
        .where(HitObject.hit_row_id.in_(hit_row_ids))
        .order_by(HitObject.hit_row_id, HitObject.position)
    ).all()
    found: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for hit_row_id, object_id, index, status in rows:
        found[hit_row_id].append((object_id, index, status))
    return dict(found)


def item_ids(session: Session, hit_row_ids: list[int]) -> dict[int, list[str]]:
    """hit row id -> the item ids its page shows (datasetObjectIds, page order)."""
    return {hit: [str(index) for _, index in members] for hit, members in batch_members(session, hit_row_ids).items()}


def mirror_batch_state(session: Session, hits: dict[int, dict], objects: dict[int, dict]) -> dict[int, dict]:
    """The collect tick's new state of each batch HIT's first object, copied to its other objects
    (they were published together and share every answer), as rows for `save_collected`
    (each keeps its own current "status"; "to" is the first object's resulting one)."""
    mirrored: dict[int, dict] = {}
    for hit_row_id, members in _members_with_status(session, list(hits)).items():
        first = objects[hits[hit_row_id]["object_id"]]
        for object_id, index, status in members:
            if object_id != first["id"]:
                mirrored[object_id] = {
                    **first,
                    "id": object_id,
                    "index": index,
                    "status": status,
                    "to": first.get("to", first["status"]),
                }
    return mirrored


def published_objects(session: Session, job_id: int) -> int:
    """Objects shown by a HIT that exists on the marketplace (for `broker status`)."""
    return int(
        session.exec(
            select(func.count(func.distinct(HitObject.object_id)))
            .join(Hit, HitObject.hit_row_id == Hit.id)
            .where(Hit.job_id == job_id, Hit.hit_id.is_not(None))
        ).one()
    )


# ------------------------------------------------------------------------------ collect


def objects_awaiting_answers(session: Session, job_id: int) -> int:
    """Objects of the job still waiting for a HIT or for its answers."""
    return int(
        session.exec(
            select(func.count())
            .select_from(DataObject)
            .where(DataObject.job_id == job_id, DataObject.status.in_([s.value for s in OBJECTS_AWAITING_ANSWERS]))
        ).one()
    )


def hits_by_marketplace_id(session: Session, job_id: int, hit_ids: Sequence[str]) -> dict[str, Any]:
    """HITId -> the job's Hit row as a plain row (id, hit_id, status, max_assignments), for these
    marketplace HITs (unknown ones are absent). Plain: a listing page names 100 HITs, mostly ones
    collected before, at every collect tick."""
    query = select(Hit.id, Hit.hit_id, Hit.status, Hit.max_assignments).where(
        Hit.job_id == job_id, Hit.hit_id.in_(list(hit_ids))
    )
    return {hit.hit_id: hit for hit in session.exec(query)}


def stored_assignment_ids(session: Session, hit_ids: Sequence[str]) -> set[str]:
    """AssignmentIds already stored for these marketplace HITs."""
    return set(
        session.exec(
            select(Assignment.assignment_id)
            .join(Hit, Assignment.hit_row_id == Hit.id)
            .where(Hit.hit_id.in_(list(hit_ids)))
        )
    )


def hits_to_collect(session: Session, hit_row_ids: Iterable[int]) -> tuple[dict[int, dict], dict[int, dict]]:
    """Plain rows of these HITs (id -> dict) and of their first objects (id -> dict), for the
    collect tick to change and hand to `save_collected`: "status" is the status read; the tick
    sets "to" on a row that should move."""
    hits = {
        h.id: h._asdict()
        for h in session.exec(
            select(
                Hit.id, Hit.object_id, Hit.max_assignments, Hit.extensions, Hit.status, Hit.assignment_cost_cents
            ).where(Hit.id.in_(list(hit_row_ids)))
        )
    }
    objects = {
        o.id: o._asdict()
        for o in session.exec(
            select(
                DataObject.id, DataObject.index, DataObject.status, DataObject.failure_reason, DataObject.n_answers
            ).where(DataObject.id.in_([h["object_id"] for h in hits.values()]))
        )
    }
    return hits, objects


def object_data_json(session: Session, object_ids: Iterable[int]) -> dict[int, str]:
    """object id -> its data object as stored (JSON text)."""
    return dict(
        session.exec(select(DataObject.id, DataObject.data_json).where(DataObject.id.in_(list(object_ids)))).all()
    )


def save_collected(
    session: Session, job_id: int, hits: dict[int, dict], objects: dict[int, dict], assignments: list[dict[str, Any]]
) -> None:
    """Write what a collect pass found: HIT and object columns in bulk, then each status that
    changed ("status" -> "to") through advance, grouped by target; new assignment rows in one
    INSERT, and the job's answers_version bumped when there are any."""
    if hits:
        session.execute(update(Hit), [{"id": h["id"], "extensions": h["extensions"]} for h in hits.values()])
        session.execute(
            update(DataObject),
            [
                {"id": o["id"], "n_answers": o["n_answers"], "failure_reason": o["failure_reason"]}
                for o in objects.values()
            ],
        )
        _advance_changed(session, job_id, hits.values(), HitStatus)
        _advance_changed(session, job_id, objects.values(), ObjectStatus)
    if assignments:
        session.execute(insert(Assignment), assignments)
        session.execute(update(Job).where(Job.id == job_id).values(answers_version=Job.answers_version + 1))


def _advance_changed(session: Session, job_id: int, rows: Iterable[dict], kind: type[StrEnum]) -> None:
    by_target: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.get("to", row["status"]) != row["status"]:
            by_target[row["to"]].append(row["id"])
    for target in sorted(by_target):
        advance(session, by_target[target], kind(target), job_id=job_id)


def mark_hits_done(session: Session, job_id: int, hit_ids: Sequence[str]) -> None:
    """These marketplace HITs were marked Reviewing: their rows are done (rows already done stay)."""
    ids = list(session.exec(select(Hit.id).where(Hit.job_id == job_id, Hit.hit_id.in_(list(hit_ids)))))
    advance(session, ids, HitStatus.DONE, job_id=job_id, strict=False)
