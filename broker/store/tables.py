"""The broker's tables: one SQLModel table per thing the daemon tracks.

Every stage reads and writes only these rows, so a killed daemon restarts from exactly
what was committed. Tokens and HIT rows are written *before* the MTurk call that they
describe (broker.stages.hits), which is what makes a restart neither duplicate a HIT nor
pay twice. Statuses are the enums of broker.domain.lifecycle; only
broker.store.transitions changes them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Column, Field, SQLModel

from broker.domain.lifecycle import HitStatus, JobStatus, ObjectStatus, ReviewStatus


class UTCDateTime(TypeDecorator):
    """Stores aware UTC datetimes; SQLite drops the zone, so it is put back on read."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the broker DB; times must be UTC-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _time(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Job(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    task_type: str
    status: str = Field(default=JobStatus.ACTIVE, index=True)
    spec_path: str = ""
    spec_json: str  # the validated JobSpec, as JSON
    template_source: str  # the Liquid source frozen at submit time
    labels_json: str
    marketplace: str = "local"
    output_uri: str
    reward_cents: int
    workers_per_object: int
    max_concurrent_hits: int
    budget_cents: int | None = None
    masters: bool = False
    hit_type_id: str | None = None
    n_objects: int = 0
    answers_version: int = 0  # bumped when new answers are stored
    consolidated_version: int = 0  # answers_version that the last consolidation saw
    iteration: int = 0  # consolidation iterations written to the output tree
    outcomes_version: int = 0  # bumped whenever an object's outcome changes (label, failure, machine label)
    output_version: int = 0  # outcomes_version the output tree was last written for
    output_manifest: str | None = None
    created_at: datetime | None = _time(nullable=False)
    completed_at: datetime | None = _time()

    @property
    def labels(self) -> list[str]:
        return json.loads(self.labels_json)


class DataObject(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    index: int  # Ground Truth's datasetObjectId (0-based line order)
    line_number: int  # 1-based line in the input manifest
    data_json: str
    status: str = Field(default=ObjectStatus.PENDING, index=True)
    failure_reason: str | None = None
    label_json: str | None = None  # consolidated class index, or list of indices
    confidence_json: str | None = None  # float, or {class: confidence}
    n_answers: int = 0
    max_assignments: int | None = None  # answers to ask for; None: the job's workers_per_object
    consolidated_at: datetime | None = _time()

    @property
    def data(self) -> dict:
        return json.loads(self.data_json)


class Hit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    object_id: int = Field(foreign_key="dataobject.id", index=True)
    attempt: int = 0
    token: str = Field(unique=True)  # UniqueRequestToken, deterministic, stored before the call
    hit_id: str | None = Field(default=None, index=True)
    status: str = Field(default=HitStatus.CREATING, index=True)
    max_assignments: int
    reward_cents: int
    assignment_cost_cents: int  # reward + MTurk fee for one assignment of this HIT
    extensions: int = 0
    created_at: datetime | None = _time(nullable=False)
    expires_at: datetime | None = _time()


class HitObject(SQLModel, table=True):
    """The objects of a HIT that shows several (a label-verification batch), in page order.

    Hit.object_id is the first of them; a HIT without these rows shows just Hit.object_id.
    An assignment's chosen_json then holds one verdict per position.
    """

    id: int | None = Field(default=None, primary_key=True)
    hit_row_id: int = Field(foreign_key="hit.id", index=True)
    object_id: int = Field(foreign_key="dataobject.id", index=True)
    position: int


class Assignment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    assignment_id: str = Field(unique=True)
    hit_row_id: int = Field(foreign_key="hit.id", index=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    object_id: int = Field(foreign_key="dataobject.id", index=True)
    worker_id: str = Field(index=True)
    mturk_status: str
    accept_time: datetime | None = _time()
    submit_time: datetime | None = _time()
    auto_approval_time: datetime | None = _time()
    answer_xml: str
    answer_json: str | None = None  # decoded taskAnswers (or parsed fields); None if unreadable
    answer_error: str | None = None
    chosen_json: str | None = None  # class indices chosen (JSON list); None if no label in the answer
    review_status: str = Field(default=ReviewStatus.PENDING, index=True)
    review_message: str | None = None
    reviewed_at: datetime | None = _time()
    cost_cents: int  # reward + fee, paid when approved
    written: bool = False  # worker-response file written to the output tree


class Worker(SQLModel, table=True):
    worker_id: str = Field(primary_key=True)
    blocked: bool = False
    block_reason: str | None = None
    em_accuracy: float | None = None
    n_answers: int = 0


class Bonus(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True)  # UniqueRequestToken of SendBonus
    worker_id: str = Field(index=True)
    assignment_id: str
    job_id: int | None = Field(default=None, foreign_key="job.id")
    amount_cents: int
    fee_cents: int
    reason: str
    sent: bool = False
    created_at: datetime | None = _time(nullable=False)


class AutoLabelRun(SQLModel, table=True):
    """One auto_label job's loop state (AutoLabeler.state_dict()), committed in the same transaction
    that releases its next batch, so a crash can neither lose a batch nor publish one twice."""

    job_id: int = Field(foreign_key="job.id", primary_key=True)
    state_json: str
    model_uri: str | None = None  # the latest trained model, in the output tree's activelearning/
    updated_at: datetime | None = _time(nullable=False)


class Event(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, index=True)
    at: datetime | None = _time(nullable=False)
    kind: str
    message: str


class WorkerExclusion(SQLModel, table=True):
    """A worker a quality rule excluded from one job: their answers no longer count there."""

    __table_args__ = (UniqueConstraint("job_id", "worker_id"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    worker_id: str = Field(index=True)
    action: str  # "block" or "qualification"
    reason: str
    at: datetime | None = _time(nullable=False)


class StageLease(SQLModel, table=True):
    """Which daemon is doing one stage's work for one job, until when (see broker.store.claims)."""

    __tablename__ = "stage_lease"

    job_id: int = Field(foreign_key="job.id", primary_key=True)
    stage: str = Field(primary_key=True)
    owner: str  # "host:pid:token" of the daemon process holding it
    expires_at: datetime | None = _time(nullable=False)


class JobStream(SQLModel, table=True):
    """Where a streaming or notification-driven job stands with its queues (broker.store.streams)."""

    __tablename__ = "job_stream"

    job_id: int = Field(foreign_key="job.id", primary_key=True)
    input_offset: int = 0  # a watched manifest file: bytes already taken in
    last_poll_at: datetime | None = _time()  # notification jobs: the last fallback poll of every open HIT
    intake_note: str | None = None  # why intake is paused (budget committed), None while it takes objects


class QueueMark(SQLModel, table=True):
    """A queue message or object already handled: at-least-once delivery made idempotent.

    kind "event": an MTurk EventDocId; "input": a streaming object's deduplication id; "sent": an
    object whose output went to the output queue.
    """

    __tablename__ = "queue_mark"

    job_id: int = Field(foreign_key="job.id", primary_key=True)
    kind: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    at: datetime | None = _time(nullable=False)


class RateLimit(SQLModel, table=True):
    """One requester account's shared rate limit (broker.store.ratelimit): the next free call slot."""

    __tablename__ = "rate_limit"

    account: str = Field(primary_key=True)  # "marketplace:access key or profile"
    next_slot: float = 0.0  # epoch seconds: the theoretical time of the next call at the limit (GCRA)


class MturkCallCount(SQLModel, table=True):
    """Requester API attempts per job and operation, all daemons together; throttled ones apart."""

    __tablename__ = "mturk_call_count"

    job_id: int = Field(default=0, primary_key=True)  # 0: calls made for no job (checks, commands)
    operation: str = Field(primary_key=True)
    calls: int = 0
    throttled: int = 0


class Daemon(SQLModel, table=True):
    """A `broker run` process that started on this DB, with a digest of its settings (so a daemon
    started with other settings than the running ones says so)."""

    __tablename__ = "daemon"

    owner: str = Field(primary_key=True)  # "host:pid:token", as in stage_lease
    settings_digest: str
    settings_file: str
    seen_at: datetime | None = _time(nullable=False)
