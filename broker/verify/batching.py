"""Verification batches: pending objects grouped by the label they show, one HIT per batch.

Objects of one label are taken in manifest order and cut into batches of `batch_size` (the last
one smaller). Only whole batches leave "pending", so a later tick cuts what is left the same way.
The HIT's objects are recorded as HitObject rows (position = order on the page) in the same
transaction as the Hit row and its token, before CreateHITWithHITType is called (the rows live
in broker.store.hits; this module holds the pure rules).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from broker.tasks.registry import task_type
from broker.verify.inputs import shown_label

T = TypeVar("T")


def is_verification(job_or_spec: Any) -> bool:
    """Its HITs show batches of objects (the task type says so)."""
    return task_type(job_or_spec.task_type).batched


def cut_batches(pending: Sequence[T], spec: Any, limit: int) -> list[list[T]]:
    """Up to `limit` batches of `pending` objects (in manifest order, each with a `.data`), each
    sharing one shown label."""
    by_label: dict[str, list[T]] = defaultdict(list)
    for obj in pending:
        by_label[shown_label(obj.data, spec.verification).label].append(obj)
    size = spec.verification.batch_size
    batches = [objects[start : start + size] for objects in by_label.values() for start in range(0, len(objects), size)]
    return batches[:limit]


def hit_count(spec: Any, data_objects: list[dict]) -> int:
    """HITs a verification job will post: per shown label, ceil(objects / batch_size)."""
    counts: dict[str, int] = defaultdict(int)
    for data in data_objects:
        counts[shown_label(data, spec.verification).label] += 1
    size = spec.verification.batch_size
    return sum(-(-n // size) for n in counts.values())


def batch_key(objects: Sequence[Any]) -> str:
    """What a batch's UniqueRequestToken is derived from: its objects' datasetObjectIds."""
    return "batch:" + ",".join(str(obj.index) for obj in objects)
