"""The marketplace's core: records in memory, one SQLite transaction per call, time-driven rules.

`MarketplaceCore` holds every record, writes each call's changes to SQLite in one
transaction (store.py) and evaluates expiry, abandonment, auto-approval and disposal after
120 days lazily against `clock.now()` at the start of every call. The operations live in
requester_ops.py and worker_ops.py; state.py assembles them into `Marketplace`.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.marketplace import fees, requirements
from broker.marketplace.clock import Clock
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.errors import InsufficientFunds, MarketplaceError, NotFound
from broker.marketplace.history import parse_history
from broker.marketplace.ids import IdSource
from broker.marketplace.protocol import JsonText
from broker.marketplace.records import (
    RECORD_TYPES,
    AccountRecord,
    AssignmentRecord,
    BonusRecord,
    HITRecord,
    HITTypeRecord,
    QualificationRecord,
    QualificationRequestRecord,
    QualificationTypeRecord,
    Record,
    TokenRecord,
    WorkerRecord,
)
from broker.marketplace.store import Store

SECONDS_30 = 30
SECONDS_365_DAYS = 365 * 24 * 3600
SECONDS_30_DAYS = 30 * 24 * 3600
DEFAULT_AUTO_APPROVAL_SECONDS = SECONDS_30_DAYS
TOKEN_LIFETIME = timedelta(hours=24)
OVERRIDE_WINDOW = timedelta(days=30)
AUTO_DISPOSE_AFTER = timedelta(days=120)
MAX_ASSIGNMENTS = 1_000_000_000
LARGE_HIT = fees.LARGE_HIT_MIN_ASSIGNMENTS
ACTIVE_STATUSES = ("Accepted", "Submitted", "Approved", "Rejected")
ACCOUNT_ID = "requester"
TEXT_LIMITS = {"Title": 128, "Description": 2000, "Keywords": 1000, "RequesterAnnotation": 255}


@dataclass(frozen=True)
class Event:
    """One MTurk notification event, ready for the notifier."""

    event_type: str
    timestamp: datetime
    hit_type_id: str
    hit_id: str | None = None
    assignment_id: str | None = None


class Notifier:
    """Where events go; notifications.py provides the SQS/SNS one."""

    def deliver(self, specification: dict[str, Any], events: list[Event], test: bool = False) -> None:
        """Send (test=True: synchronously, raising NotificationFailed) or queue events."""
        raise NotImplementedError


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def hit_order_key(hit: HITRecord) -> tuple[str, str]:
    """The order HITs are listed in, and their NextToken: creation time, then HITId."""
    return (hit.created_at.isoformat(), hit.id)


class MarketplaceCore:
    """State, persistence, transactions, time-driven rules, events and money shared by both sides."""

    def __init__(
        self,
        config: MarketplaceConfig,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self._history = parse_history(config.worker_history) if config.worker_history else None
        self.clock = clock or Clock(speed=config.time_scale, follows_wall=not config.simulated_clock)
        self.ids = IdSource(config.id_seed)
        self.notifier = notifier
        self.public_url: str | None = None
        self.store = Store(config.db_path)
        self._lock = threading.RLock()
        self._depth = 0
        self._tables: dict[str, dict[str, Record]] = {cls.kind: {} for cls in RECORD_TYPES}
        self._types_by_kind = {cls.kind: cls for cls in RECORD_TYPES}
        self._dirty: dict[tuple[str, str], Record | None] = {}
        self._events: list[tuple[dict[str, Any], Event]] = []
        self._due: list[tuple[datetime, int, str, str]] = []
        self._sequence = itertools.count()
        self._load()

    # ------------------------------------------------------------------ tables
    @property
    def hit_types(self) -> dict[str, HITTypeRecord]:
        return self._tables["hit_type"]  # type: ignore[return-value]

    @property
    def hits(self) -> dict[str, HITRecord]:
        return self._tables["hit"]  # type: ignore[return-value]

    @property
    def assignments(self) -> dict[str, AssignmentRecord]:
        return self._tables["assignment"]  # type: ignore[return-value]

    @property
    def workers(self) -> dict[str, WorkerRecord]:
        return self._tables["worker"]  # type: ignore[return-value]

    @property
    def qualification_types(self) -> dict[str, QualificationTypeRecord]:
        return self._tables["qualification_type"]  # type: ignore[return-value]

    @property
    def qualifications(self) -> dict[str, QualificationRecord]:
        return self._tables["qualification"]  # type: ignore[return-value]

    @property
    def qualification_requests(self) -> dict[str, QualificationRequestRecord]:
        return self._tables["qualification_request"]  # type: ignore[return-value]

    @property
    def bonuses(self) -> dict[str, BonusRecord]:
        return self._tables["bonus"]  # type: ignore[return-value]

    @property
    def tokens(self) -> dict[str, TokenRecord]:
        return self._tables["token"]  # type: ignore[return-value]

    @property
    def account(self) -> AccountRecord:
        return self._tables["account"][ACCOUNT_ID]  # type: ignore[return-value]

    # ------------------------------------------------------------ persistence
    def _load(self) -> None:
        for kind, cls in self._types_by_kind.items():
            table = self._tables[kind]
            for record_id, body in self.store.load(kind):
                table[record_id] = cls.model_validate_json(body)
        if ACCOUNT_ID not in self._tables["account"]:
            self._save(AccountRecord(id=ACCOUNT_ID, balance_cents=self.config.initial_balance_cents))
            self._flush()
        self._rebuild_indices()
        self._catch_up_clock()

    def _catch_up_clock(self) -> None:
        """Never let time run backwards across a restart (a sped-up clock restarts at wall time)."""
        latest = max(
            (
                moment
                for table in self._tables.values()
                for record in table.values()
                for moment in (
                    getattr(record, name, None)
                    for name in (
                        "created_at",
                        "accept_time",
                        "submit_time",
                        "approval_time",
                        "rejection_time",
                        "return_time",
                        "granted_at",
                        "submitted_at",
                        "decided_at",
                    )
                )
                if isinstance(moment, datetime)
            ),
            default=None,
        )
        behind = (latest - self.clock.now()).total_seconds() if latest else 0.0
        if behind > 0:
            self.clock.advance(behind)

    def _rebuild_indices(self) -> None:
        self._assignments_by_hit: dict[str, list[str]] = defaultdict(list)
        self._assignments_by_worker: dict[str, list[str]] = defaultdict(list)
        # HITs in the order the List operations page them (hit_order_key), by HIT type and all
        # together (None): a listing reads a page's worth of them after its NextToken, not every HIT
        self._hit_order: dict[str | None, list[tuple[str, str]]] = defaultdict(list)
        # HITs whose recorded status is Assignable, by HIT type, in the order they became so: every
        # status change goes through _record_status, so workers' listings need not scan every HIT
        self._assignable_by_type: dict[str, dict[str, None]] = defaultdict(dict)
        self._hit_type_by_signature: dict[str, str] = {}
        self._due = []
        for assignment in sorted(self.assignments.values(), key=lambda a: (a.accept_time, a.id)):
            self._index(assignment)
        for hit in sorted(self.hits.values(), key=lambda h: (h.created_at, h.id)):
            self._index(hit)
        for hit_type in self.hit_types.values():
            self._index(hit_type)
        for token in self.tokens.values():
            self._index(token)

    def _index(self, record: Record) -> None:
        """Keep lookup indices and the due-time heap in step with a newly created record."""
        if isinstance(record, AssignmentRecord):
            self._assignments_by_hit[record.hit_id].append(record.id)
            self._assignments_by_worker[record.worker_id].append(record.id)
            self._schedule_assignment(record)
        elif isinstance(record, HITRecord):
            insort(self._hit_order[record.hit_type_id], hit_order_key(record))
            insort(self._hit_order[None], hit_order_key(record))
            if not record.disposed and record.last_status == "Assignable":
                self._assignable_by_type[record.hit_type_id][record.id] = None
            if not record.disposed:
                self._schedule(record.expiration, "expire", record.id)
                self._schedule(record.created_at + AUTO_DISPOSE_AFTER, "dispose", record.id)
        elif isinstance(record, HITTypeRecord):
            self._hit_type_by_signature[self._hit_type_signature(record)] = record.id
        elif isinstance(record, TokenRecord):
            self._schedule(record.created_at + TOKEN_LIFETIME, "forget_token", record.id)

    def _move_hit_order(self, hit: HITRecord, new_type_id: str) -> None:
        """Keep the per-type order in step when a HIT changes its HIT type."""
        key = hit_order_key(hit)
        old = self._hit_order[hit.hit_type_id]
        del old[bisect_left(old, key)]
        insort(self._hit_order[new_type_id], key)

    def _schedule(self, when: datetime, action: str, record_id: str) -> None:
        heapq.heappush(self._due, (when, next(self._sequence), action, record_id))

    def _schedule_assignment(self, assignment: AssignmentRecord) -> None:
        if assignment.status == "Accepted":
            self._schedule(assignment.deadline, "abandon", assignment.id)
        elif assignment.status == "Submitted" and assignment.auto_approval_time is not None:
            self._schedule(assignment.auto_approval_time, "auto_approve", assignment.id)

    def _save(self, record: Record, new: bool = False) -> None:
        table = self._tables[record.kind]
        table[record.id] = record
        self._dirty[(record.kind, record.id)] = record
        if new:
            self._index(record)

    def _flush(self) -> None:
        changes = [
            (kind, record_id, None if record is None else record.model_dump_json())
            for (kind, record_id), record in self._dirty.items()
        ]
        self.store.write(changes)
        self._dirty.clear()

    def _rollback(self) -> None:
        """Forget a failed call's changes: reload every touched record from SQLite."""
        self._events.clear()
        if not self._dirty:
            return
        for kind, record_id in list(self._dirty):
            body = self.store.load_one(kind, record_id)
            table = self._tables[kind]
            if body is None:
                table.pop(record_id, None)
            else:
                table[record_id] = self._types_by_kind[kind].model_validate_json(body)
        self._dirty.clear()
        self._events.clear()
        self._rebuild_indices()

    @contextmanager
    def _transaction(self) -> Iterator[datetime]:
        """One call: time-driven rules first (committed on their own), then the call, atomically.

        Events are handed to the notifier only once committed: the time-driven ones always,
        the call's own only if it succeeded.
        """
        committed: list[tuple[dict[str, Any], Event]] = []
        try:
            with self._lock:
                if self._depth:
                    yield self.clock.now()
                    return
                self._depth += 1
                try:
                    self._run_due(self.clock.now())
                    self._flush()
                    committed, self._events = self._events, []
                    try:
                        yield self.clock.now()
                        self._flush()
                    except BaseException:
                        self._rollback()
                        raise
                    committed, self._events = committed + self._events, []
                finally:
                    self._depth -= 1
        finally:
            self._dispatch_events(committed)

    def _dispatch_events(self, events: list[tuple[dict[str, Any], Event]]) -> None:
        if not events or self.notifier is None:
            return
        for specification, event in events:
            self.notifier.deliver(specification, [event])

    def close(self) -> None:
        self.store.close()

    # ----------------------------------------------------------- time-driven
    def _run_due(self, now: datetime) -> None:
        while self._due and self._due[0][0] <= now:
            when, _, action, record_id = heapq.heappop(self._due)
            if action == "abandon":
                self._abandon_if_due(record_id, now)
            elif action == "auto_approve":
                self._auto_approve_if_due(record_id, now)
            elif action == "expire":
                self._expire_if_due(record_id, now)
            elif action == "dispose":
                self._dispose_if_due(record_id, now)
            elif action == "forget_token":
                self._forget_token_if_due(record_id, now)

    def _forget_token_if_due(self, token_id: str, now: datetime) -> None:
        """UniqueRequestTokens are honoured for 24 hours; then the record goes."""
        token = self.tokens.get(token_id)
        if token is not None and token.created_at + TOKEN_LIFETIME <= now:
            del self.tokens[token_id]
            self._dirty[(TokenRecord.kind, token_id)] = None

    def _abandon_if_due(self, assignment_id: str, now: datetime) -> None:
        assignment = self.assignments.get(assignment_id)
        if assignment is None or assignment.status != "Accepted" or assignment.deadline > now:
            return
        assignment.status = "Abandoned"
        self._save(assignment)
        hit = self.hits[assignment.hit_id]
        self._emit("AssignmentAbandoned", hit, assignment, assignment.deadline)
        self._refresh_hit(hit, assignment.deadline)

    def _auto_approve_if_due(self, assignment_id: str, now: datetime) -> None:
        assignment = self.assignments.get(assignment_id)
        if assignment is None or assignment.status != "Submitted":
            return
        if assignment.auto_approval_time is None or assignment.auto_approval_time > now:
            return
        try:
            self._approve(assignment, assignment.auto_approval_time, feedback=None)
        except InsufficientFunds:
            # Tried again on a later call, once the requester has funds.
            self._schedule(now + timedelta(minutes=1), "auto_approve", assignment.id)

    def _expire_if_due(self, hit_id: str, now: datetime) -> None:
        hit = self.hits.get(hit_id)
        if hit is None or hit.disposed or hit.expired_notified or hit.expiration > now:
            return
        hit.expired_notified = True
        self._save(hit)
        self._emit("HITExpired", hit, None, hit.expiration)
        self._refresh_hit(hit, hit.expiration)

    def _dispose_if_due(self, hit_id: str, now: datetime) -> None:
        hit = self.hits.get(hit_id)
        if hit is None or hit.disposed or hit.created_at + AUTO_DISPOSE_AFTER > now:
            return
        self._dispose(hit, hit.created_at + AUTO_DISPOSE_AFTER)

    # --------------------------------------------------------------- events
    def _emit(self, event_type: str, hit: HITRecord, assignment: AssignmentRecord | None, when: datetime) -> None:
        hit_type = self.hit_types.get(hit.hit_type_id)
        if hit_type is None or not hit_type.notification or not hit_type.notification_active:
            return
        if event_type not in hit_type.notification.get("EventTypes", []):
            return
        event = Event(event_type, when, hit.hit_type_id, hit.id, assignment.id if assignment else None)
        self._events.append((dict(hit_type.notification), event))

    # ----------------------------------------------------------- HIT status
    def _hit_assignments(self, hit_id: str) -> list[AssignmentRecord]:
        return [self.assignments[a] for a in self._assignments_by_hit.get(hit_id, [])]

    @staticmethod
    def _wire_question(hit: HITRecord) -> JsonText:
        """The HIT's question with its JSON form kept, while the HIT is Reviewable (the same text;
        _record_status drops the JSON form when the HIT moves on, and a record reloaded after a
        rollback has a plain question again, encoded anew when next listed)."""
        if not isinstance(hit.question, JsonText):
            hit.question = JsonText(hit.question)
        return hit.question

    def _hit_counts(self, hit: HITRecord) -> dict[str, int]:
        counts = dict.fromkeys(ACTIVE_STATUSES, 0)
        assignments = self.assignments
        for assignment_id in self._assignments_by_hit.get(hit.id, ()):
            status = assignments[assignment_id].status
            if status in counts:
                counts[status] += 1
        used = sum(counts.values())
        counts["available"] = max(0, hit.max_assignments - used)
        return counts

    def _hit_status(self, hit: HITRecord, now: datetime) -> str:
        if hit.disposed:
            return "Disposed"
        if hit.reviewing:
            return "Reviewing"
        counts = self._hit_counts(hit)
        if hit.expiration > now and counts["available"] > 0:
            return "Assignable"
        if counts["Accepted"] > 0:
            return "Unassignable"
        return "Reviewable"

    def _refresh_hit(self, hit: HITRecord, when: datetime) -> None:
        """Record the HIT's status; entering Reviewable raises the HITReviewable event."""
        status = self._hit_status(hit, self.clock.now())
        if status != hit.last_status:
            if status == "Reviewable":
                self._emit("HITReviewable", hit, None, when)
            self._record_status(hit, status)

    def _record_status(self, hit: HITRecord, status: str) -> None:
        hit.last_status = status
        if status != "Reviewable" and isinstance(hit.question, JsonText):
            hit.question = str(hit.question)  # no longer listed again and again: memory back
        assignable = self._assignable_by_type[hit.hit_type_id]
        if status == "Assignable":
            assignable[hit.id] = None
        else:
            assignable.pop(hit.id, None)
        self._save(hit)

    def _dispose(self, hit: HITRecord, when: datetime) -> None:
        hit.disposed = True
        self._record_status(hit, "Disposed")
        self._emit("HITDisposed", hit, None, when)

    # -------------------------------------------------------------- lookups
    def _get_hit(self, hit_id: str) -> HITRecord:
        hit = self.hits.get(hit_id)
        if hit is None:
            raise NotFound("HIT", f"Hit {hit_id} does not exist.")
        return hit

    def _get_hit_type(self, hit_type_id: str) -> HITTypeRecord:
        hit_type = self.hit_types.get(hit_type_id)
        if hit_type is None:
            raise NotFound("HITType", f"HITType {hit_type_id} does not exist.")
        return hit_type

    def _get_assignment(self, assignment_id: str) -> AssignmentRecord:
        assignment = self.assignments.get(assignment_id)
        if assignment is None:
            raise NotFound("Assignment", f"Assignment {assignment_id} does not exist.")
        return assignment

    def _get_worker(self, worker_id: str) -> WorkerRecord:
        worker = self.workers.get(worker_id)
        if worker is None:
            raise NotFound("Worker", f"Worker {worker_id} does not exist.")
        return worker

    def _get_qualification_type(self, type_id: str) -> QualificationTypeRecord:
        qualification_type = self.qualification_types.get(type_id)
        if qualification_type is None or qualification_type.deleted:
            raise NotFound("QualificationType", f"QualificationType {type_id} does not exist.")
        return qualification_type

    def _ensure_worker(self, worker_id: str, now: datetime) -> WorkerRecord:
        worker = self.workers.get(worker_id)
        if worker is None:
            worker = WorkerRecord(id=worker_id, created_at=now)
            if self._history is not None:  # a simulated crowd's history from other requesters
                worker.historic_approved, worker.historic_submitted = self._history.draw(
                    self.config.id_seed or 0, worker_id
                )
            self._save(worker, new=True)
        return worker

    # ------------------------------------------------------ money and tokens
    def _charge(self, amount_cents: int, fee_cents: int) -> None:
        account = self.account
        needed = amount_cents + fee_cents
        if needed > account.balance_cents:
            raise InsufficientFunds(needed, account.balance_cents)
        account.balance_cents -= needed
        account.fees_paid_cents += fee_cents
        self._save(account)

    def _check_token(
        self, scope: str, token: str | None, now: datetime, duplicate: Callable[[str], MarketplaceError]
    ) -> None:
        if not token:
            return
        record = self.tokens.get(f"{scope}:{token}")
        if record is not None and record.created_at + TOKEN_LIFETIME > now:
            raise duplicate(record.result_id)

    def _remember_token(self, scope: str, token: str | None, result_id: str, now: datetime) -> None:
        if token:
            self._save(TokenRecord(id=f"{scope}:{token}", result_id=result_id, created_at=now), new=True)

    def _approve(self, assignment: AssignmentRecord, when: datetime, feedback: str | None) -> None:
        hit = self.hits[assignment.hit_id]
        hit_type = self.hit_types[hit.hit_type_id]
        fee = fees.assignment_fee_cents(
            assignment.reward_cents,
            hit.max_assignments,
            requirements.requires_masters(hit_type.qualification_requirements),
        )
        self._charge(assignment.reward_cents, fee)
        account = self.account
        account.rewards_paid_cents += assignment.reward_cents
        self._save(account)
        assignment.status = "Approved"
        assignment.approval_time = when
        assignment.rejection_time = None
        assignment.fee_cents = fee
        if feedback is not None:
            assignment.requester_feedback = feedback
        self._save(assignment)
        self._emit("AssignmentApproved", hit, assignment, when)
        self._refresh_hit(hit, when)

    def _grant(self, type_id: str, worker_id: str, value: int | None, now: datetime) -> QualificationRecord:
        key = f"{type_id}:{worker_id}"
        qualification = QualificationRecord(
            id=key, type_id=type_id, worker_id=worker_id, integer_value=value, granted_at=now
        )
        self._save(qualification)
        return qualification
