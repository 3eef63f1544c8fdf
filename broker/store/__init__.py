"""The broker DB: tables, engines and transactions, status transitions, named queries and claims.

The only package that imports sqlmodel or sqlalchemy. Everything above it asks for rows by
what they are (a job's spec, its money, the answers to consolidate) and changes statuses only
through broker.store.transitions.advance.
"""

from broker.store.engine import (
    database_exists,
    database_unreachable,
    dispose_engine,
    get_engine,
    reading,
    sqlite_file,
    transaction,
)
from broker.store.events import record_event
from broker.store.tables import (
    Assignment,
    AutoLabelRun,
    Bonus,
    DataObject,
    Event,
    Hit,
    HitObject,
    Job,
    Worker,
    WorkerExclusion,
)
from broker.store.transitions import advance

__all__ = [
    "Assignment",
    "AutoLabelRun",
    "Bonus",
    "DataObject",
    "Event",
    "Hit",
    "HitObject",
    "Job",
    "Worker",
    "WorkerExclusion",
    "advance",
    "database_exists",
    "database_unreachable",
    "dispose_engine",
    "get_engine",
    "reading",
    "record_event",
    "sqlite_file",
    "transaction",
]
