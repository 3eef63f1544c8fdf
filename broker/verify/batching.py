"""Verification batches: pending objects grouped by the label they show, one HIT per batch.

Objects of one label are taken in manifest order and cut into batches of `batch_size` (the last
one smaller). Only whole batches leave "pending", so a later tick cuts what is left the same way.
The HIT's objects are recorded as HitObject rows (position = order on the page) in the same
transaction as the Hit row and its token, before CreateHITWithHITType is called.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlmodel import Session, select

from broker.db import DataObject, HitObject, ObjectStatus
from broker.verify.inputs import shown_label

TASK_TYPE = "label-verification"


def is_verification(job_or_spec: Any) -> bool:
    return getattr(job_or_spec, "task_type", None) == TASK_TYPE


def pending_batches(session: Session, job_id: int, spec: Any, limit: int) -> list[list[DataObject]]:
    """Up to `limit` batches of the job's pending objects, each sharing one shown label."""
    pending = session.exec(select(DataObject).where(DataObject.job_id == job_id,
                                                    DataObject.status == ObjectStatus.PENDING)
                           .order_by(DataObject.index)).all()
    by_label: dict[str, list[DataObject]] = defaultdict(list)
    for obj in pending:
        by_label[shown_label(obj.data, spec.verification).label].append(obj)
    size = spec.verification.batch_size
    batches = [objects[start:start + size] for objects in by_label.values() for start in range(0, len(objects), size)]
    return batches[:limit]


def hit_count(spec: Any, data_objects: list[dict]) -> int:
    """HITs a verification job will post: per shown label, ceil(objects / batch_size)."""
    counts: dict[str, int] = defaultdict(int)
    for data in data_objects:
        counts[shown_label(data, spec.verification).label] += 1
    size = spec.verification.batch_size
    return sum(-(-n // size) for n in counts.values())


def batch_key(objects: list[DataObject]) -> str:
    """What a batch's UniqueRequestToken is derived from: its objects' datasetObjectIds."""
    return "batch:" + ",".join(str(obj.index) for obj in objects)


def link_objects(session: Session, hit_row_id: int, objects: list[DataObject]) -> None:
    session.add_all(HitObject(hit_row_id=hit_row_id, object_id=obj.id, position=position)
                    for position, obj in enumerate(objects))


def hit_objects(session: Session, hit_row_ids: list[int]) -> dict[int, list[DataObject]]:
    """hit row id -> its objects in page order (HITs without links are absent)."""
    members = batch_members(session, hit_row_ids)
    ids = [object_id for batch in members.values() for object_id, _ in batch]
    by_id = {obj.id: obj for obj in session.exec(select(DataObject).where(DataObject.id.in_(ids)))}
    return {hit: [by_id[object_id] for object_id, _ in batch] for hit, batch in members.items()}


def batch_members(session: Session, hit_row_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """hit row id -> (object id, datasetObjectId) of its objects, in page order."""
    rows = session.exec(select(HitObject.hit_row_id, DataObject.id, DataObject.index)
                        .join(DataObject, HitObject.object_id == DataObject.id)
                        .where(HitObject.hit_row_id.in_(hit_row_ids))
                        .order_by(HitObject.hit_row_id, HitObject.position)).all()
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for hit_row_id, object_id, index in rows:
        found[hit_row_id].append((object_id, index))
    return dict(found)


def item_ids(session: Session, hit_row_ids: list[int]) -> dict[int, list[str]]:
    """hit row id -> the item ids its page shows (datasetObjectIds, page order)."""
    return {hit: [str(index) for _, index in members] for hit, members in batch_members(session, hit_row_ids).items()}


def mirror_batch_state(session: Session, hits: dict[int, dict], objects: dict[int, dict]) -> dict[int, dict]:
    """The collect tick's new state of each batch HIT's first object, copied to its other objects
    (they were published together and share every answer), as rows for the same bulk UPDATE."""
    mirrored: dict[int, dict] = {}
    for hit_row_id, members in batch_members(session, list(hits)).items():
        first = objects[hits[hit_row_id]["object_id"]]
        for object_id, index in members:
            if object_id != first["id"]:
                mirrored[object_id] = {**first, "id": object_id, "index": index}
    return mirrored


def published_objects(session: Session, job_id: int) -> int:
    """Objects shown by a HIT that exists on the marketplace (for `broker status`)."""
    from sqlmodel import func

    from broker.db import Hit

    return int(session.exec(select(func.count(func.distinct(HitObject.object_id)))
                            .join(Hit, HitObject.hit_row_id == Hit.id)
                            .where(Hit.job_id == job_id, Hit.hit_id != None)).one())  # noqa: E711
