"""Transitional re-export of broker.store and broker.domain.lifecycle (being removed)."""

from broker.domain.clock import utcnow  # noqa: F401
from broker.domain.lifecycle import HitStatus, JobStatus, ObjectStatus, ReviewStatus  # noqa: F401
from broker.store.engine import dispose_engine, get_engine, transaction  # noqa: F401
from broker.store.events import record_event  # noqa: F401
from broker.store.tables import (Assignment, AutoLabelRun, Bonus, DataObject, Event, Hit, HitObject,  # noqa: F401
                                 Job, UTCDateTime, Worker, WorkerExclusion)
