"""The marketplace's state and MTurk's rules, in plain Python (no HTTP).

`Marketplace` holds every record in memory, writes each call's changes to SQLite in one
transaction (store.py) and evaluates time-driven rules (expiry, abandonment, auto-approval,
disposal after 120 days) lazily against `clock.now()` at the start of every call.

Requester operations are methods named after the API operation in snake case that take the
request's parameters (wire names, already shape-checked by protocol.py) and return the
response as a dict with datetimes; `dispatch(operation, params)` maps names to methods.
Worker-facing methods serve the worker site (see views.py).
"""

from __future__ import annotations

import heapq
import re
import itertools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from broker.marketplace import fees, ids, questions, requirements
from broker.marketplace.clock import Clock
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.errors import (
    InsufficientFunds,
    InvalidState,
    MarketplaceError,
    NotFound,
    NotQualified,
    RequestError,
    ValidationFailed,
)
from broker.marketplace.paging import paginate
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
from broker.marketplace.views import (
    DashboardView,
    HitGroupView,
    HitView,
    MessageView,
    QualificationTypeView,
    RequirementView,
    WorkerAssignmentView,
)

R = TypeVar("R", bound=Record)

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


def method_name(operation: str) -> str:
    """'ListReviewableHITs' -> 'list_reviewable_hits' (the Marketplace method for an operation)."""
    words = operation.replace("HITs", "Hits").replace("HIT", "Hit").replace("URL", "Url")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", words).lower()


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Marketplace:
    """Every MTurk rule of the embedded marketplace; thread-safe (one lock around each call)."""

    def __init__(
        self,
        config: MarketplaceConfig,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        from broker.marketplace.store import Store

        self.config = config
        self.clock = clock or Clock(speed=config.time_scale)
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

    def _rebuild_indices(self) -> None:
        self._assignments_by_hit: dict[str, list[str]] = defaultdict(list)
        self._assignments_by_worker: dict[str, list[str]] = defaultdict(list)
        self._hits_by_type: dict[str, list[str]] = defaultdict(list)
        self._hit_type_by_signature: dict[str, str] = {}
        self._due = []
        for assignment in sorted(self.assignments.values(), key=lambda a: (a.accept_time, a.id)):
            self._index(assignment)
        for hit in sorted(self.hits.values(), key=lambda h: (h.created_at, h.id)):
            self._index(hit)
        for hit_type in self.hit_types.values():
            self._index(hit_type)

    def _index(self, record: Record) -> None:
        """Keep lookup indices and the due-time heap in step with a newly created record."""
        if isinstance(record, AssignmentRecord):
            self._assignments_by_hit[record.hit_id].append(record.id)
            self._assignments_by_worker[record.worker_id].append(record.id)
            self._schedule_assignment(record)
        elif isinstance(record, HITRecord):
            self._hits_by_type[record.hit_type_id].append(record.id)
            if not record.disposed:
                self._schedule(record.expiration, "expire", record.id)
                self._schedule(record.created_at + AUTO_DISPOSE_AFTER, "dispose", record.id)
        elif isinstance(record, HITTypeRecord):
            self._hit_type_by_signature[self._hit_type_signature(record)] = record.id

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
        """One call: time-driven rules first (committed on their own), then the call, atomically."""
        with self._lock:
            if self._depth:
                yield self.clock.now()
                return
            self._depth += 1
            try:
                self._run_due(self.clock.now())
                self._commit()
                try:
                    yield self.clock.now()
                    self._commit()
                except BaseException:
                    self._rollback()
                    raise
            finally:
                self._depth -= 1
                events, self._events = self._events, []
        self._dispatch_events(events)

    def _commit(self) -> None:
        self._flush()

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

    def _hit_counts(self, hit: HITRecord) -> dict[str, int]:
        counts = {status: 0 for status in ("Accepted", "Submitted", "Approved", "Rejected")}
        for assignment in self._hit_assignments(hit.id):
            if assignment.status in counts:
                counts[assignment.status] += 1
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
            hit.last_status = status
            self._save(hit)

    def _dispose(self, hit: HITRecord, when: datetime) -> None:
        hit.disposed = True
        hit.last_status = "Disposed"
        self._save(hit)
        self._emit("HITDisposed", hit, None, when)

    # -------------------------------------------------------------- lookups
    def _get_hit(self, hit_id: str) -> HITRecord:
        hit = self.hits.get(hit_id)
        if hit is None:
            raise NotFound(f"Hit {hit_id} does not exist.")
        return hit

    def _get_hit_type(self, hit_type_id: str) -> HITTypeRecord:
        hit_type = self.hit_types.get(hit_type_id)
        if hit_type is None:
            raise NotFound(f"HITType {hit_type_id} does not exist.")
        return hit_type

    def _get_assignment(self, assignment_id: str) -> AssignmentRecord:
        assignment = self.assignments.get(assignment_id)
        if assignment is None:
            raise NotFound(f"Assignment {assignment_id} does not exist.")
        return assignment

    def _get_worker(self, worker_id: str) -> WorkerRecord:
        worker = self.workers.get(worker_id)
        if worker is None:
            raise NotFound(f"Worker {worker_id} does not exist.")
        return worker

    def _get_qualification_type(self, type_id: str) -> QualificationTypeRecord:
        qualification_type = self.qualification_types.get(type_id)
        if qualification_type is None or qualification_type.deleted:
            raise NotFound(f"QualificationType {type_id} does not exist.")
        return qualification_type

    def _ensure_worker(self, worker_id: str, now: datetime) -> WorkerRecord:
        worker = self.workers.get(worker_id)
        if worker is None:
            worker = WorkerRecord(id=worker_id, created_at=now)
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

    def _check_token(self, scope: str, token: str | None, now: datetime, duplicate: Callable[[str], MarketplaceError]) -> None:
        if not token:
            return
        record = self.tokens.get(f"{scope}:{token}")
        if record is not None and record.created_at + TOKEN_LIFETIME > now:
            raise duplicate(record.result_id)

    def _remember_token(self, scope: str, token: str | None, result_id: str, now: datetime) -> None:
        if token:
            self._save(TokenRecord(id=f"{scope}:{token}", result_id=result_id, created_at=now))

    # ------------------------------------------------------- validation
    @staticmethod
    def _check_range(field: str, value: int, low: int, high: int) -> int:
        if not low <= value <= high:
            raise ValidationFailed(f"Value {value} for {field} is out of range: it must be between {low} and {high}.")
        return value

    @staticmethod
    def _check_text(params: dict[str, Any]) -> None:
        for field, limit in TEXT_LIMITS.items():
            value = params.get(field)
            if value is not None and len(value) > limit:
                raise ValidationFailed(f"{field} is {len(value)} characters; the maximum is {limit}.")
        for field in ("Title", "Description"):
            if field in params and not str(params[field]).strip():
                raise ValidationFailed(f"{field} must not be empty.")

    @staticmethod
    def _reward_cents(field: str, text: str) -> int:
        try:
            return fees.parse_usd_cents(text)
        except ValueError as error:
            raise ValidationFailed(f"Value {text!r} for {field} is not a valid USD amount ({error}).") from error

    def _known_qualification_type_ids(self) -> set[str]:
        known = set(requirements.SYSTEM_QUALIFICATIONS)
        known.update(t.id for t in self.qualification_types.values() if not t.deleted)
        return known

    def _hit_type_signature(self, hit_type: HITTypeRecord) -> str:
        import json

        return json.dumps(
            [
                hit_type.title,
                hit_type.description,
                hit_type.keywords,
                hit_type.reward_cents,
                hit_type.assignment_duration_seconds,
                hit_type.auto_approval_delay_seconds,
                hit_type.qualification_requirements,
            ],
            sort_keys=True,
        )

    def _register_hit_type(self, params: dict[str, Any], now: datetime) -> HITTypeRecord:
        """CreateHITType's rules; an identical HIT type already registered is reused (as MTurk does)."""
        self._check_text(params)
        reward_cents = self._reward_cents("Reward", params["Reward"])
        duration = self._check_range("AssignmentDurationInSeconds", int(params["AssignmentDurationInSeconds"]), SECONDS_30, SECONDS_365_DAYS)
        auto_approval = self._check_range(
            "AutoApprovalDelayInSeconds",
            int(params.get("AutoApprovalDelayInSeconds", DEFAULT_AUTO_APPROVAL_SECONDS)),
            0,
            SECONDS_30_DAYS,
        )
        qualification_requirements = [dict(r) for r in params.get("QualificationRequirements") or []]
        requirements.validate_requirements(qualification_requirements, self._known_qualification_type_ids())
        candidate = HITTypeRecord(
            id=ids.random_id(),
            title=params["Title"],
            description=params["Description"],
            keywords=params.get("Keywords") or "",
            reward_cents=reward_cents,
            assignment_duration_seconds=duration,
            auto_approval_delay_seconds=auto_approval,
            qualification_requirements=qualification_requirements,
            created_at=now,
        )
        existing = self._hit_type_by_signature.get(self._hit_type_signature(candidate))
        if existing is not None:
            return self.hit_types[existing]
        self._save(candidate, new=True)
        return candidate

    def _create_hit(self, hit_type: HITTypeRecord, params: dict[str, Any], now: datetime) -> HITRecord:
        for policy in ("AssignmentReviewPolicy", "HITReviewPolicy"):
            if params.get(policy):
                raise RequestError(
                    "AWS.MechanicalTurk.ReviewPolicyNotSupported",
                    f"{policy} is not supported by this marketplace; review assignments with ApproveAssignment/RejectAssignment.",
                )
        if params.get("HITLayoutId") or params.get("HITLayoutParameters"):
            raise RequestError(
                "AWS.MechanicalTurk.HITLayoutNotSupported",
                "HIT layouts are not supported by this marketplace; pass the Question parameter.",
            )
        self._check_text(params)
        lifetime = self._check_range("LifetimeInSeconds", int(params["LifetimeInSeconds"]), SECONDS_30, SECONDS_365_DAYS)
        max_assignments = self._check_range("MaxAssignments", int(params.get("MaxAssignments", 1)), 1, MAX_ASSIGNMENTS)
        if not params.get("Question"):
            raise ValidationFailed("Question is required.", "AWS.MissingParameters")
        parsed = questions.parse_question(params["Question"])
        token = params.get("UniqueRequestToken")
        self._check_token("CreateHIT", token, now, lambda hit_id: RequestError(
            "AWS.MechanicalTurk.HitAlreadyExists",
            f"There is already a HIT which exists with the same UniqueRequestToken {token!r}. HITId: {hit_id}",
        ))
        hit = HITRecord(
            id=ids.random_id(),
            hit_type_id=hit_type.id,
            created_at=now,
            expiration=now + timedelta(seconds=lifetime),
            max_assignments=max_assignments,
            question=params["Question"],
            question_kind=parsed.kind,
            requester_annotation=params.get("RequesterAnnotation"),
            unique_request_token=token,
        )
        self._save(hit, new=True)
        self._remember_token("CreateHIT", token, hit.id, now)
        self._emit("HITCreated", hit, None, now)
        return hit

    # --------------------------------------------------------- wire shapes
    def _hit_shape(self, hit: HITRecord, now: datetime) -> dict[str, Any]:
        hit_type = self.hit_types[hit.hit_type_id]
        counts = self._hit_counts(hit)
        shape: dict[str, Any] = {
            "HITId": hit.id,
            "HITTypeId": hit.hit_type_id,
            "HITGroupId": hit.hit_type_id,
            "CreationTime": hit.created_at,
            "Title": hit_type.title,
            "Description": hit_type.description,
            "Question": hit.question,
            "Keywords": hit_type.keywords,
            "HITStatus": self._hit_status(hit, now),
            "MaxAssignments": hit.max_assignments,
            "Reward": fees.format_usd(hit_type.reward_cents),
            "AutoApprovalDelayInSeconds": hit_type.auto_approval_delay_seconds,
            "Expiration": hit.expiration,
            "AssignmentDurationInSeconds": hit_type.assignment_duration_seconds,
            "QualificationRequirements": hit_type.qualification_requirements,
            "HITReviewStatus": hit.review_status,
            "NumberOfAssignmentsPending": counts["Accepted"],
            "NumberOfAssignmentsAvailable": counts["available"],
            "NumberOfAssignmentsCompleted": counts["Approved"] + counts["Rejected"],
        }
        if hit.requester_annotation is not None:
            shape["RequesterAnnotation"] = hit.requester_annotation
        return shape

    @staticmethod
    def _assignment_shape(assignment: AssignmentRecord) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "AssignmentId": assignment.id,
            "WorkerId": assignment.worker_id,
            "HITId": assignment.hit_id,
            "AssignmentStatus": assignment.status,
            "AcceptTime": assignment.accept_time,
            "Deadline": assignment.deadline,
        }
        optional = {
            "AutoApprovalTime": assignment.auto_approval_time,
            "SubmitTime": assignment.submit_time,
            "ApprovalTime": assignment.approval_time,
            "RejectionTime": assignment.rejection_time,
            "Answer": assignment.answer,
            "RequesterFeedback": assignment.requester_feedback,
        }
        shape.update({key: value for key, value in optional.items() if value is not None})
        return shape

    @staticmethod
    def _qualification_type_shape(qualification_type: QualificationTypeRecord) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "QualificationTypeId": qualification_type.id,
            "CreationTime": qualification_type.created_at,
            "Name": qualification_type.name,
            "Description": qualification_type.description,
            "QualificationTypeStatus": qualification_type.status,
            "IsRequestable": True,
            "AutoGranted": qualification_type.auto_granted,
        }
        optional = {
            "Keywords": qualification_type.keywords,
            "Test": qualification_type.test,
            "TestDurationInSeconds": qualification_type.test_duration_seconds,
            "AnswerKey": qualification_type.answer_key,
            "RetryDelayInSeconds": qualification_type.retry_delay_seconds,
            "AutoGrantedValue": qualification_type.auto_granted_value if qualification_type.auto_granted else None,
        }
        shape.update({key: value for key, value in optional.items() if value is not None})
        return shape

    @staticmethod
    def _system_qualification_type_shape(type_id: str) -> dict[str, Any]:
        name, description = requirements.SYSTEM_QUALIFICATIONS[type_id]
        return {
            "QualificationTypeId": type_id,
            "CreationTime": datetime(2017, 1, 17, tzinfo=timezone.utc),
            "Name": name,
            "Description": description,
            "QualificationTypeStatus": "Active",
            "IsRequestable": False,
            "AutoGranted": False,
        }

    @staticmethod
    def _qualification_shape(qualification: QualificationRecord) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "QualificationTypeId": qualification.type_id,
            "WorkerId": qualification.worker_id,
            "GrantTime": qualification.granted_at,
            "Status": qualification.status,
        }
        if qualification.integer_value is not None:
            shape["IntegerValue"] = qualification.integer_value
        if qualification.locale_country is not None:
            locale = {"Country": qualification.locale_country}
            if qualification.locale_subdivision:
                locale["Subdivision"] = qualification.locale_subdivision
            shape["LocaleValue"] = locale
        return shape

    # ============================================================ requester API
    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one requester operation by its API name."""
        handler = getattr(self, method_name(operation), None)
        if handler is None or operation not in OPERATIONS:
            raise RequestError("AWS.MechanicalTurk.UnknownOperation", f"Unknown operation {operation}.")
        return handler(params)

    # ---- account
    def get_account_balance(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            return {"AvailableBalance": fees.format_usd(self.account.balance_cents), "OnHoldBalance": "0.00"}

    # ---- HIT types and HITs
    def create_hit_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            return {"HITTypeId": self._register_hit_type(params, now).id}

    def create_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hit_type = self._register_hit_type(params, now)
            hit = self._create_hit(hit_type, params, now)
            return {"HIT": self._hit_shape(hit, now)}

    def create_hit_with_hit_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hit_type = self._get_hit_type(params["HITTypeId"])
            hit = self._create_hit(hit_type, params, now)
            return {"HIT": self._hit_shape(hit, now)}

    def get_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            return {"HIT": self._hit_shape(self._get_hit(params["HITId"]), now)}

    def list_hits(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hits = [hit for hit in self.hits.values() if not hit.disposed]
            page, token = paginate(hits, lambda h: (h.created_at.isoformat(), h.id), params)
            return {"NumResults": len(page), "HITs": [self._hit_shape(h, now) for h in page], **token}

    def list_reviewable_hits(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            wanted = params.get("Status", "Reviewable")
            type_id = params.get("HITTypeId")
            if type_id is not None:
                self._get_hit_type(type_id)
                candidates = [self.hits[h] for h in self._hits_by_type.get(type_id, [])]
            else:
                candidates = list(self.hits.values())
            hits = [h for h in candidates if self._hit_status(h, now) == wanted]
            page, token = paginate(hits, lambda h: (h.created_at.isoformat(), h.id), params)
            return {"NumResults": len(page), "HITs": [self._hit_shape(h, now) for h in page], **token}

    def update_expiration_for_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hit = self._get_hit(params["HITId"])
            if hit.disposed:
                raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} has been deleted.")
            expire_at = _as_utc(params["ExpireAt"])
            if expire_at <= now:
                hit.expiration = now
                self._save(hit)
                self._expire_if_due(hit.id, now)
            else:
                extended = expire_at > hit.expiration
                if expire_at > hit.created_at + timedelta(seconds=SECONDS_365_DAYS):
                    raise ValidationFailed("ExpireAt must be within 365 days of the HIT's creation.")
                hit.expiration = expire_at
                hit.expired_notified = False
                self._save(hit)
                self._schedule(expire_at, "expire", hit.id)
                if extended:
                    self._emit("HITExtended", hit, None, now)
            self._refresh_hit(hit, now)
            return {}

    def update_hit_review_status(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hit = self._get_hit(params["HITId"])
            status = self._hit_status(hit, now)
            if params.get("Revert"):
                if status != "Reviewing":
                    raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} is {status}; only a Reviewing HIT can be reverted to Reviewable.")
                hit.reviewing = False
            else:
                if status != "Reviewable":
                    raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} is {status}; only a Reviewable HIT can be set to Reviewing.")
                hit.reviewing = True
            hit.last_status = self._hit_status(hit, now)
            self._save(hit)
            return {}

    def update_hit_type_of_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hit = self._get_hit(params["HITId"])
            new_type = self._get_hit_type(params["HITTypeId"])
            if hit.disposed:
                raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} has been deleted.")
            old_type_id = hit.hit_type_id
            if old_type_id != new_type.id:
                self._hits_by_type[old_type_id].remove(hit.id)
                self._hits_by_type[new_type.id].append(hit.id)
                hit.hit_type_id = new_type.id
                self._save(hit)
            return {}

    def delete_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hit = self._get_hit(params["HITId"])
            status = self._hit_status(hit, now)
            if status == "Disposed":
                raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} has already been deleted.")
            if status not in ("Reviewable", "Reviewing"):
                raise InvalidState(
                    "AWS.MechanicalTurk.InvalidHITState",
                    f"This HIT is currently in the state '{status}'. This operation can be called with a status of: Reviewable, Reviewing",
                )
            undecided = [a.id for a in self._hit_assignments(hit.id) if a.status in ("Accepted", "Submitted")]
            if undecided:
                raise InvalidState(
                    "AWS.MechanicalTurk.InvalidHITState",
                    f"Hit {hit.id} has assignments that are not yet approved or rejected: {', '.join(undecided)}.",
                )
            self._dispose(hit, now)
            return {}

    def create_additional_assignments_for_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hit = self._get_hit(params["HITId"])
            extra = self._check_range("NumberOfAdditionalAssignments", int(params["NumberOfAdditionalAssignments"]), 1, MAX_ASSIGNMENTS)
            if hit.disposed:
                raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} has been deleted.")
            token = params.get("UniqueRequestToken")
            self._check_token(f"CreateAdditionalAssignmentsForHIT:{hit.id}", token, now, lambda _: RequestError(
                "AWS.MechanicalTurk.ExtendAlreadyExists",
                f"The extend HIT request with UniqueRequestToken {token!r} was already processed for HIT {hit.id}.",
            ))
            new_total = hit.max_assignments + extra
            if hit.max_assignments < LARGE_HIT <= new_total:
                raise RequestError(
                    "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
                    f"Hit {hit.id} has {hit.max_assignments} assignments; a HIT created with fewer than {LARGE_HIT} "
                    f"assignments cannot be extended to {LARGE_HIT} or more (requested {new_total}).",
                )
            self._check_range("MaxAssignments", new_total, 1, MAX_ASSIGNMENTS)
            hit.max_assignments = new_total
            hit.reviewing = False
            self._save(hit)
            self._remember_token(f"CreateAdditionalAssignmentsForHIT:{hit.id}", token, hit.id, now)
            self._emit("HITExtended", hit, None, now)
            self._refresh_hit(hit, now)
            return {}

    # ---- assignments
    def list_assignments_for_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            hit = self._get_hit(params["HITId"])
            statuses = set(params.get("AssignmentStatuses") or ("Submitted", "Approved", "Rejected"))
            assignments = [a for a in self._hit_assignments(hit.id) if a.status in statuses]
            page, token = paginate(assignments, lambda a: (a.accept_time.isoformat(), a.id), params)
            return {"NumResults": len(page), "Assignments": [self._assignment_shape(a) for a in page], **token}

    def get_assignment(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            assignment = self._get_assignment(params["AssignmentId"])
            if assignment.status not in ("Submitted", "Approved", "Rejected"):
                raise NotFound(f"Assignment {assignment.id} does not exist (it has not been submitted).")
            hit = self.hits[assignment.hit_id]
            return {"Assignment": self._assignment_shape(assignment), "HIT": self._hit_shape(hit, now)}

    def _approve(self, assignment: AssignmentRecord, when: datetime, feedback: str | None) -> None:
        hit = self.hits[assignment.hit_id]
        hit_type = self.hit_types[hit.hit_type_id]
        fee = fees.assignment_fee_cents(
            assignment.reward_cents, hit.max_assignments, requirements.requires_masters(hit_type.qualification_requirements)
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

    def approve_assignment(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            assignment = self._get_assignment(params["AssignmentId"])
            feedback = params.get("RequesterFeedback")
            if feedback is not None and len(feedback) > 1024:
                raise ValidationFailed("RequesterFeedback is longer than 1024 characters.")
            if assignment.status == "Rejected" and params.get("OverrideRejection"):
                hit = self.hits[assignment.hit_id]
                if hit.disposed:
                    raise InvalidState("AWS.MechanicalTurk.InvalidAssignmentState", f"Assignment {assignment.id}'s HIT has been deleted; the rejection can no longer be overridden.")
                if assignment.submit_time is None or assignment.submit_time + OVERRIDE_WINDOW < now:
                    raise InvalidState("AWS.MechanicalTurk.InvalidAssignmentState", f"Assignment {assignment.id} was submitted more than 30 days ago; the rejection can no longer be overridden.")
            elif assignment.status != "Submitted":
                raise InvalidState(
                    "AWS.MechanicalTurk.InvalidAssignmentState",
                    f"This operation can be called with a status of: Submitted (assignment {assignment.id} is {assignment.status}).",
                )
            self._approve(assignment, now, feedback)
            return {}

    def reject_assignment(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            assignment = self._get_assignment(params["AssignmentId"])
            feedback = params["RequesterFeedback"]
            if len(feedback) > 1024:
                raise ValidationFailed("RequesterFeedback is longer than 1024 characters.")
            if assignment.status != "Submitted":
                raise InvalidState(
                    "AWS.MechanicalTurk.InvalidAssignmentState",
                    f"This operation can be called with a status of: Submitted (assignment {assignment.id} is {assignment.status}).",
                )
            assignment.status = "Rejected"
            assignment.rejection_time = now
            assignment.requester_feedback = feedback
            self._save(assignment)
            hit = self.hits[assignment.hit_id]
            self._emit("AssignmentRejected", hit, assignment, now)
            self._refresh_hit(hit, now)
            return {}

    # ---- bonuses
    def send_bonus(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            worker_id = params["WorkerId"]
            assignment = self._get_assignment(params["AssignmentId"])
            if assignment.worker_id != worker_id:
                raise RequestError("AWS.MechanicalTurk.InvalidParameterValue", f"Assignment {assignment.id} was not worked by {worker_id}.")
            if assignment.status not in ("Submitted", "Approved", "Rejected"):
                raise InvalidState("AWS.MechanicalTurk.InvalidAssignmentState", f"Assignment {assignment.id} is {assignment.status}; a bonus needs submitted work.")
            amount = self._reward_cents("BonusAmount", params["BonusAmount"])
            if amount <= 0:
                raise ValidationFailed("BonusAmount must be at least 0.01.")
            reason = params["Reason"]
            if not reason.strip():
                raise ValidationFailed("Reason must not be empty.")
            token = params.get("UniqueRequestToken")
            self._check_token("SendBonus", token, now, lambda bonus_id: RequestError(
                "AWS.MechanicalTurk.BonusAlreadyExists",
                f"A bonus with UniqueRequestToken {token!r} was already granted (request {bonus_id}).",
            ))
            fee = fees.bonus_fee_cents(amount)
            self._charge(amount, fee)
            account = self.account
            account.bonuses_paid_cents += amount
            self._save(account)
            bonus = BonusRecord(
                id=ids.random_id(), worker_id=worker_id, assignment_id=assignment.id, hit_id=assignment.hit_id,
                amount_cents=amount, fee_cents=fee, reason=reason, granted_at=now, unique_request_token=token,
            )
            self._save(bonus)
            self._remember_token("SendBonus", token, bonus.id, now)
            return {}

    def list_bonus_payments(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            hit_id, assignment_id = params.get("HITId"), params.get("AssignmentId")
            if bool(hit_id) == bool(assignment_id):
                raise ValidationFailed("Give exactly one of HITId or AssignmentId.", "AWS.MissingParameters")
            if hit_id:
                self._get_hit(hit_id)
            else:
                self._get_assignment(assignment_id)
            bonuses = [
                b for b in self.bonuses.values()
                if (hit_id and b.hit_id == hit_id) or (assignment_id and b.assignment_id == assignment_id)
            ]
            page, token = paginate(bonuses, lambda b: (b.granted_at.isoformat(), b.id), params)
            payments = [
                {"WorkerId": b.worker_id, "BonusAmount": fees.format_usd(b.amount_cents), "AssignmentId": b.assignment_id, "Reason": b.reason, "GrantTime": b.granted_at}
                for b in page
            ]
            return {"NumResults": len(page), "BonusPayments": payments, **token}

    # ---- workers
    def create_worker_block(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            if not params["Reason"].strip():
                raise ValidationFailed("Reason must not be empty.")
            worker = self._ensure_worker(params["WorkerId"], now)
            worker.blocked = True
            worker.block_reason = params["Reason"]
            self._save(worker)
            return {}

    def delete_worker_block(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            worker = self.workers.get(params["WorkerId"])
            if worker is not None and worker.blocked:
                worker.blocked = False
                worker.block_reason = None
                self._save(worker)
            return {}

    def list_worker_blocks(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            blocked = [w for w in self.workers.values() if w.blocked]
            page, token = paginate(blocked, lambda w: (w.id,), params)
            return {"NumResults": len(page), "WorkerBlocks": [{"WorkerId": w.id, "Reason": w.block_reason or ""} for w in page], **token}

    def notify_workers(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            subject, text, worker_ids = params["Subject"], params["MessageText"], params["WorkerIds"]
            if len(subject) > 200:
                raise ValidationFailed("Subject is longer than 200 characters.")
            if len(text) > 4096:
                raise ValidationFailed("MessageText is longer than 4096 characters.")
            if not 1 <= len(worker_ids) <= 100:
                raise ValidationFailed(f"WorkerIds must list 1 to 100 workers, got {len(worker_ids)}.")
            failures = []
            for worker_id in worker_ids:
                worker = self.workers.get(worker_id)
                if worker is None or not self._assignments_by_worker.get(worker_id):
                    failures.append({
                        "NotifyWorkersFailureCode": "HardFailure",
                        "NotifyWorkersFailureMessage": f"Cannot send a message to {worker_id}: the worker has not worked for you.",
                        "WorkerId": worker_id,
                    })
                    continue
                worker.messages.append({"subject": subject, "body": text, "sent_at": now.isoformat()})
                self._save(worker)
            return {"NotifyWorkersFailureStatuses": failures}

    # ---- qualification types
    def _validate_test(self, test: str | None, answer_key: str | None, duration: int | None, auto_granted: bool) -> None:
        if test is None:
            if answer_key is not None:
                raise ValidationFailed("AnswerKey requires a Test.")
            return
        if auto_granted:
            raise ValidationFailed("A QualificationType with a Test cannot be AutoGranted.")
        if duration is None:
            raise ValidationFailed("TestDurationInSeconds is required with a Test.", "AWS.MissingParameters")
        identifiers = questions.parse_question_form(test, "Test")
        if answer_key is not None:
            questions.score_answer_key(answer_key, "<QuestionFormAnswers/>")
            del identifiers

    def create_qualification_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            name = params["Name"].strip()
            if not name:
                raise ValidationFailed("Name must not be empty.")
            if any(t.name == name and not t.deleted for t in self.qualification_types.values()):
                raise RequestError(
                    "AWS.MechanicalTurk.QualificationTypeAlreadyExists",
                    f"You have already created a QualificationType with this name: {name}",
                )
            auto_granted = bool(params.get("AutoGranted", False))
            self._validate_test(params.get("Test"), params.get("AnswerKey"), params.get("TestDurationInSeconds"), auto_granted)
            qualification_type = QualificationTypeRecord(
                id=ids.random_id(),
                name=name,
                description=params["Description"],
                keywords=params.get("Keywords"),
                status=params["QualificationTypeStatus"],
                retry_delay_seconds=params.get("RetryDelayInSeconds"),
                test=params.get("Test"),
                answer_key=params.get("AnswerKey"),
                test_duration_seconds=params.get("TestDurationInSeconds"),
                auto_granted=auto_granted,
                auto_granted_value=params.get("AutoGrantedValue", 1) if auto_granted else None,
                created_at=now,
            )
            self._save(qualification_type)
            return {"QualificationType": self._qualification_type_shape(qualification_type)}

    def get_qualification_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            type_id = params["QualificationTypeId"]
            if type_id in requirements.SYSTEM_QUALIFICATIONS:
                return {"QualificationType": self._system_qualification_type_shape(type_id)}
            return {"QualificationType": self._qualification_type_shape(self._get_qualification_type(type_id))}

    def update_qualification_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            qualification_type = self._get_qualification_type(params["QualificationTypeId"])
            updated = qualification_type.model_copy()
            for field, attribute in (
                ("Description", "description"),
                ("QualificationTypeStatus", "status"),
                ("Test", "test"),
                ("AnswerKey", "answer_key"),
                ("TestDurationInSeconds", "test_duration_seconds"),
                ("RetryDelayInSeconds", "retry_delay_seconds"),
                ("AutoGranted", "auto_granted"),
                ("AutoGrantedValue", "auto_granted_value"),
            ):
                if field in params:
                    setattr(updated, attribute, params[field])
            if updated.auto_granted and updated.auto_granted_value is None:
                updated.auto_granted_value = 1
            self._validate_test(updated.test, updated.answer_key, updated.test_duration_seconds, updated.auto_granted)
            self._save(updated)
            return {"QualificationType": self._qualification_type_shape(updated)}

    def delete_qualification_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            qualification_type = self._get_qualification_type(params["QualificationTypeId"])
            qualification_type.deleted = True
            qualification_type.status = "Inactive"
            self._save(qualification_type)
            return {}

    def list_qualification_types(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            query = (params.get("Query") or "").lower()
            must_be_requestable = bool(params["MustBeRequestable"])
            shapes = [self._qualification_type_shape(t) for t in self.qualification_types.values() if not t.deleted]
            if not params.get("MustBeOwnedByCaller"):
                shapes += [self._system_qualification_type_shape(type_id) for type_id in requirements.SYSTEM_QUALIFICATIONS]
            shapes = [
                s for s in shapes
                if (not must_be_requestable or s["IsRequestable"])
                and (not query or query in s["Name"].lower() or query in s["Description"].lower() or query in (s.get("Keywords") or "").lower())
            ]
            page, token = paginate(shapes, lambda s: (s["Name"], s["QualificationTypeId"]), params)
            return {"NumResults": len(page), "QualificationTypes": page, **token}

    def _grant(self, type_id: str, worker_id: str, value: int | None, now: datetime) -> QualificationRecord:
        key = f"{type_id}:{worker_id}"
        qualification = QualificationRecord(id=key, type_id=type_id, worker_id=worker_id, integer_value=value, granted_at=now)
        self._save(qualification)
        return qualification

    def associate_qualification_with_worker(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            qualification_type = self._get_qualification_type(params["QualificationTypeId"])
            worker = self._ensure_worker(params["WorkerId"], now)
            self._grant(qualification_type.id, worker.id, int(params.get("IntegerValue", 1)), now)
            return {}

    def disassociate_qualification_from_worker(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            qualification_type = self._get_qualification_type(params["QualificationTypeId"])
            qualification = self.qualifications.get(f"{qualification_type.id}:{params['WorkerId']}")
            if qualification is None or qualification.status != "Granted":
                raise NotFound(f"Worker {params['WorkerId']} does not hold QualificationType {qualification_type.id}.")
            qualification.status = "Revoked"
            self._save(qualification)
            return {}

    def get_qualification_score(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            qualification_type = self._get_qualification_type(params["QualificationTypeId"])
            qualification = self.qualifications.get(f"{qualification_type.id}:{params['WorkerId']}")
            if qualification is None:
                raise NotFound(f"You requested a Qualification that does not exist: worker {params['WorkerId']}, type {qualification_type.id}.")
            return {"Qualification": self._qualification_shape(qualification)}

    def list_workers_with_qualification_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            qualification_type = self._get_qualification_type(params["QualificationTypeId"])
            status = params.get("Status")
            held = [
                q for q in self.qualifications.values()
                if q.type_id == qualification_type.id and (status is None or q.status == status)
            ]
            page, token = paginate(held, lambda q: (q.granted_at.isoformat(), q.id), params)
            return {"NumResults": len(page), "Qualifications": [self._qualification_shape(q) for q in page], **token}

    def list_hits_for_qualification_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            type_id = params["QualificationTypeId"]
            if type_id not in requirements.SYSTEM_QUALIFICATIONS:
                self._get_qualification_type(type_id)
            hits = [
                h for h in self.hits.values()
                if not h.disposed and any(r["QualificationTypeId"] == type_id for r in self.hit_types[h.hit_type_id].qualification_requirements)
            ]
            page, token = paginate(hits, lambda h: (h.created_at.isoformat(), h.id), params)
            return {"NumResults": len(page), "HITs": [self._hit_shape(h, now) for h in page], **token}

    def list_qualification_requests(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            type_id = params.get("QualificationTypeId")
            if type_id:
                self._get_qualification_type(type_id)
            pending = [
                r for r in self.qualification_requests.values()
                if r.status == "Pending" and (type_id is None or r.type_id == type_id)
            ]
            page, token = paginate(pending, lambda r: (r.submitted_at.isoformat(), r.id), params)
            shapes = []
            for request in page:
                shape: dict[str, Any] = {
                    "QualificationRequestId": request.id,
                    "QualificationTypeId": request.type_id,
                    "WorkerId": request.worker_id,
                    "SubmitTime": request.submitted_at,
                }
                if request.test is not None:
                    shape["Test"] = request.test
                if request.answer is not None:
                    shape["Answer"] = request.answer
                shapes.append(shape)
            return {"NumResults": len(page), "QualificationRequests": shapes, **token}

    def _pending_request(self, request_id: str) -> QualificationRequestRecord:
        request = self.qualification_requests.get(request_id)
        if request is None:
            raise NotFound(f"QualificationRequest {request_id} does not exist.")
        if request.status != "Pending":
            raise InvalidState("AWS.MechanicalTurk.InvalidQualificationRequestState", f"QualificationRequest {request_id} is already {request.status}.")
        return request

    def accept_qualification_request(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            request = self._pending_request(params["QualificationRequestId"])
            self._get_qualification_type(request.type_id)
            request.status, request.decided_at = "Approved", now
            self._save(request)
            self._grant(request.type_id, request.worker_id, int(params.get("IntegerValue", 1)), now)
            return {}

    def reject_qualification_request(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            request = self._pending_request(params["QualificationRequestId"])
            request.status, request.decided_at, request.reason = "Rejected", now, params.get("Reason")
            self._save(request)
            return {}

    # ---- notifications, files, review policies
    def update_notification_settings(self, params: dict[str, Any]) -> dict[str, Any]:
        from broker.marketplace.notifications import validate_specification

        with self._transaction():
            hit_type = self._get_hit_type(params["HITTypeId"])
            specification = params.get("Notification")
            if specification is None and "Active" not in params:
                raise ValidationFailed("Give Notification, Active or both.", "AWS.MissingParameters")
            if specification is not None:
                validate_specification(specification)
                hit_type.notification = dict(specification)
                hit_type.notification_active = True
            if "Active" in params:
                if hit_type.notification is None:
                    raise InvalidState("AWS.MechanicalTurk.NotificationNotConfigured", f"HITType {hit_type.id} has no notification specification to activate.")
                hit_type.notification_active = bool(params["Active"])
            self._save(hit_type)
            return {}

    def send_test_event_notification(self, params: dict[str, Any]) -> dict[str, Any]:
        from broker.marketplace.notifications import NotificationFailed, validate_specification

        specification = params["Notification"]
        validate_specification(specification, allow_ping=True)
        with self._transaction() as now:
            event = Event(params["TestEventType"], now, "TESTHITTYPE" + ids.random_id(19), ids.random_id(), ids.random_id())
        if self.notifier is not None:
            try:
                self.notifier.deliver(dict(specification), [event], test=True)
            except NotificationFailed as error:
                raise RequestError("AWS.MechanicalTurk.NotificationDeliveryFailed", str(error)) from error
        return {}

    def get_file_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            assignment = self._get_assignment(params["AssignmentId"])
            identifier = params["QuestionIdentifier"]
            if assignment.answer is None:
                raise NotFound(f"Assignment {assignment.id} has no answer.")
            keys = questions.answers_from_xml(assignment.answer).get(identifier)
            if not keys or "<UploadedFileKey>" not in assignment.answer:
                raise NotFound(f"Assignment {assignment.id} has no uploaded file for question {identifier}.")
            base = (self.public_url or "").rstrip("/")
            return {"FileUploadURL": f"{base}/uploads/{assignment.id}/{keys[0]}"}

    def list_review_policy_results_for_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            hit = self._get_hit(params["HITId"])
            return {"HITId": hit.id}

    # ============================================================ worker side
    def register_worker(self, worker_id: str | None = None) -> str:
        """A new worker account (or an existing id made known); returns the WorkerId."""
        with self._transaction() as now:
            if worker_id is not None:
                if not (worker_id.startswith("A") and worker_id.isalnum() and worker_id.isupper() and len(worker_id) <= 64):
                    raise ValidationFailed(f"WorkerId {worker_id!r} must be 'A' followed by upper-case letters and digits.")
                self._ensure_worker(worker_id, now)
                return worker_id
            new_id = ids.worker_id()
            while new_id in self.workers:
                new_id = ids.worker_id()
            self._ensure_worker(new_id, now)
            return new_id

    def set_worker_stats(self, worker_id: str, approved: int | None = None, submitted: int | None = None, masters: bool | None = None) -> None:
        """Set a worker's history from other requesters (tests): approved of submitted-and-decided."""
        with self._transaction() as now:
            worker = self._ensure_worker(worker_id, now)
            if approved is not None:
                worker.historic_approved = approved
            if submitted is not None:
                worker.historic_submitted = submitted
            if worker.historic_approved > worker.historic_submitted:
                raise ValidationFailed("approved cannot exceed submitted.")
            if masters is not None:
                worker.masters = masters
            self._save(worker)

    def set_worker_profile(self, worker_id: str, locale_country: str, locale_subdivision: str | None = None) -> None:
        with self._transaction():
            worker = self._get_worker(worker_id)
            if len(locale_country) != 2 or not locale_country.isalpha():
                raise ValidationFailed("Country must be an ISO 3166 two-letter code.")
            worker.locale_country = locale_country.upper()
            worker.locale_subdivision = locale_subdivision.upper() if locale_subdivision else None
            self._save(worker)

    def _worker_counts(self, worker_id: str) -> dict[str, int]:
        counts = {"Submitted": 0, "Approved": 0, "Rejected": 0}
        for assignment_id in self._assignments_by_worker.get(worker_id, []):
            status = self.assignments[assignment_id].status
            if status in counts:
                counts[status] += 1
        return counts

    def _held(self, worker: WorkerRecord, type_id: str) -> requirements.HeldValue:
        if type_id in (requirements.PERCENT_APPROVED, requirements.NUMBER_APPROVED):
            counts = self._worker_counts(worker.id)
            approved = worker.historic_approved + counts["Approved"]
            decided = worker.historic_submitted + counts["Approved"] + counts["Rejected"]
            if type_id == requirements.NUMBER_APPROVED:
                return requirements.HeldValue(True, approved)
            return requirements.HeldValue(True, 100 if decided == 0 else approved * 100 // decided)
        if type_id == requirements.LOCALE:
            return requirements.HeldValue(True, None, worker.locale_country, worker.locale_subdivision)
        if type_id in requirements.MASTERS_IDS:
            return requirements.HeldValue(worker.masters, 1 if worker.masters else None)
        qualification = self.qualifications.get(f"{type_id}:{worker.id}")
        if qualification is None or qualification.status != "Granted":
            return requirements.HeldValue(False)
        return requirements.HeldValue(True, qualification.integer_value)

    def _requirement_name(self, type_id: str) -> str:
        if type_id in requirements.SYSTEM_QUALIFICATIONS:
            return requirements.SYSTEM_QUALIFICATIONS[type_id][0]
        qualification_type = self.qualification_types.get(type_id)
        return qualification_type.name if qualification_type else type_id

    def _unmet(self, hit_type: HITTypeRecord, worker: WorkerRecord | None, action: str) -> list[dict[str, Any]]:
        """Requirements guarding `action` that the worker (None = anonymous) does not meet."""
        guarding = [r for r in hit_type.qualification_requirements if requirements.guards(r, action)]
        if worker is None:
            return guarding
        return [r for r in guarding if not requirements.requirement_met(r, self._held(worker, r["QualificationTypeId"]))]

    def _check_worker_may(self, hit_type: HITTypeRecord, worker: WorkerRecord | None, action: str) -> None:
        if worker is not None and worker.blocked:
            raise NotQualified(f"Worker {worker.id} is blocked by this requester.")
        unmet = self._unmet(hit_type, worker, action)
        if unmet:
            names = ", ".join(self._requirement_name(r["QualificationTypeId"]) for r in unmet)
            verb = {"Discover": "see", "Preview": "preview", "Accept": "accept"}[action]
            raise NotQualified(f"You do not meet the qualification requirements to {verb} this HIT: {names}.")

    def _worker_or_none(self, worker_id: str | None) -> WorkerRecord | None:
        return self._get_worker(worker_id) if worker_id else None

    def _worked_hit_ids(self, worker_id: str) -> set[str]:
        """HITs the worker holds or has submitted (returned and abandoned ones may be taken again)."""
        return {
            self.assignments[a].hit_id
            for a in self._assignments_by_worker.get(worker_id, [])
            if self.assignments[a].status in ACTIVE_STATUSES
        }

    def list_hit_groups(self, worker_id: str | None) -> list[HitGroupView]:
        with self._transaction() as now:
            worker = self._worker_or_none(worker_id)
            groups = []
            for hit_type_id, hit_ids in self._hits_by_type.items():
                hit_type = self.hit_types[hit_type_id]
                available = sum(1 for h in hit_ids if self._hit_status(self.hits[h], now) == "Assignable")
                if available == 0 or self._unmet(hit_type, worker, "Discover"):
                    continue  # nothing to do, or hidden from this worker (anonymous: every Discover guard)
                views = [
                    RequirementView(
                        qualification_type_id=r["QualificationTypeId"],
                        name=self._requirement_name(r["QualificationTypeId"]),
                        comparator=r["Comparator"],
                        values=requirements.describe_values(r),
                        met=None if worker is None else requirements.requirement_met(r, self._held(worker, r["QualificationTypeId"])),
                    )
                    for r in hit_type.qualification_requirements
                ]
                groups.append(HitGroupView(
                    hit_type_id=hit_type.id, title=hit_type.title, description=hit_type.description,
                    keywords=hit_type.keywords, reward_cents=hit_type.reward_cents,
                    assignment_duration_seconds=hit_type.assignment_duration_seconds, hits_available=available,
                    requester_name=self.config.requester_name,
                    qualified=worker is not None and not self._unmet(hit_type, worker, "Accept"),
                    blocked=bool(worker and worker.blocked), requirements=views,
                ))
            groups.sort(key=lambda g: (-g.hits_available, g.title, g.hit_type_id))
            return groups

    def next_hit_for_worker(self, hit_type_id: str, worker_id: str | None) -> str | None:
        with self._transaction() as now:
            self._get_hit_type(hit_type_id)
            worked = self._worked_hit_ids(worker_id) if worker_id else set()
            for hit_id in self._hits_by_type.get(hit_type_id, []):
                if hit_id not in worked and self._hit_status(self.hits[hit_id], now) == "Assignable":
                    return hit_id
            return None

    def preview_hit(self, hit_id: str, worker_id: str | None) -> HitView:
        with self._transaction() as now:
            hit = self._get_hit(hit_id)
            if hit.disposed:
                raise NotFound(f"Hit {hit_id} does not exist.")
            hit_type = self.hit_types[hit.hit_type_id]
            self._check_worker_may(hit_type, self._worker_or_none(worker_id), "Preview")
            parsed = questions.parse_question(hit.question)
            return HitView(
                hit_id=hit.id, hit_type_id=hit_type.id, title=hit_type.title, description=hit_type.description,
                reward_cents=hit_type.reward_cents, assignment_duration_seconds=hit_type.assignment_duration_seconds,
                question_kind=parsed.kind, html_content=parsed.html_content, external_url=parsed.external_url,
                frame_height=parsed.frame_height, question_xml=hit.question, expires_at=hit.expiration,
                available_assignments=self._hit_counts(hit)["available"] if self._hit_status(hit, now) == "Assignable" else 0,
            )

    def accept_hit(self, hit_id: str, worker_id: str) -> str:
        with self._transaction() as now:
            worker = self._get_worker(worker_id)
            hit = self._get_hit(hit_id)
            hit_type = self.hit_types[hit.hit_type_id]
            status = self._hit_status(hit, now)
            if status != "Assignable":
                raise InvalidState("AWS.MechanicalTurk.HITNotAssignable", f"Hit {hit.id} is {status} and cannot be accepted.")
            self._check_worker_may(hit_type, worker, "Accept")
            if hit.id in self._worked_hit_ids(worker.id):
                raise InvalidState("AWS.MechanicalTurk.AssignmentAlreadyExists", f"Worker {worker.id} has already worked on Hit {hit.id}.")
            assignment = AssignmentRecord(
                id=ids.random_id(), hit_id=hit.id, worker_id=worker.id, status="Accepted", accept_time=now,
                deadline=now + timedelta(seconds=hit_type.assignment_duration_seconds), reward_cents=hit_type.reward_cents,
            )
            self._save(assignment, new=True)
            self._emit("AssignmentAccepted", hit, assignment, now)
            self._refresh_hit(hit, now)
            return assignment.id

    def _worker_assignment(self, assignment_id: str, worker_id: str) -> AssignmentRecord:
        assignment = self.assignments.get(assignment_id)
        if assignment is None or assignment.worker_id != worker_id:
            raise NotFound(f"Assignment {assignment_id} does not exist for worker {worker_id}.")
        return assignment

    def return_assignment(self, assignment_id: str, worker_id: str) -> None:
        with self._transaction() as now:
            assignment = self._worker_assignment(assignment_id, worker_id)
            if assignment.status != "Accepted":
                raise InvalidState("AWS.MechanicalTurk.InvalidAssignmentState", f"Assignment {assignment.id} is {assignment.status} and cannot be returned.")
            assignment.status, assignment.return_time = "Returned", now
            self._save(assignment)
            hit = self.hits[assignment.hit_id]
            self._emit("AssignmentReturned", hit, assignment, now)
            self._refresh_hit(hit, now)

    def submit_assignment(self, assignment_id: str, worker_id: str, answer_xml: str) -> None:
        with self._transaction() as now:
            assignment = self._worker_assignment(assignment_id, worker_id)
            if assignment.status != "Accepted":
                raise InvalidState(
                    "AWS.MechanicalTurk.InvalidAssignmentState",
                    f"Assignment {assignment.id} is {assignment.status}; only an accepted assignment can be submitted.",
                )
            questions.answers_from_xml(answer_xml)
            hit = self.hits[assignment.hit_id]
            hit_type = self.hit_types[hit.hit_type_id]
            assignment.status = "Submitted"
            assignment.submit_time = now
            assignment.answer = answer_xml
            assignment.auto_approval_time = now + timedelta(seconds=hit_type.auto_approval_delay_seconds)
            self._save(assignment)
            self._schedule_assignment(assignment)
            self._emit("AssignmentSubmitted", hit, assignment, now)
            self._refresh_hit(hit, now)
            if hit_type.auto_approval_delay_seconds == 0:
                self._auto_approve_if_due(assignment.id, now)

    def _assignment_view(self, assignment: AssignmentRecord) -> WorkerAssignmentView:
        return WorkerAssignmentView(
            assignment_id=assignment.id, hit_id=assignment.hit_id, hit_type_id=self.hits[assignment.hit_id].hit_type_id,
            status=assignment.status, accept_time=assignment.accept_time, deadline=assignment.deadline,
            submit_time=assignment.submit_time, reward_cents=assignment.reward_cents,
        )

    def assignment_for_worker(self, assignment_id: str, worker_id: str) -> WorkerAssignmentView:
        with self._transaction():
            return self._assignment_view(self._worker_assignment(assignment_id, worker_id))

    def worker_assignments(self, worker_id: str, active_only: bool = False) -> list[WorkerAssignmentView]:
        with self._transaction():
            self._get_worker(worker_id)
            views = [self._assignment_view(self.assignments[a]) for a in self._assignments_by_worker.get(worker_id, [])]
            if active_only:
                views = [v for v in views if v.status == "Accepted"]
            return sorted(views, key=lambda v: v.accept_time, reverse=True)

    def worker_dashboard(self, worker_id: str) -> DashboardView:
        with self._transaction():
            worker = self._get_worker(worker_id)
            counts = self._worker_counts(worker_id)
            earnings = pending = 0
            for assignment_id in self._assignments_by_worker.get(worker_id, []):
                assignment = self.assignments[assignment_id]
                if assignment.status == "Approved":
                    earnings += assignment.reward_cents
                elif assignment.status == "Submitted":
                    pending += assignment.reward_cents
            bonus = sum(b.amount_cents for b in self.bonuses.values() if b.worker_id == worker_id)
            decided = counts["Approved"] + counts["Rejected"]
            qualifications = [
                (q.type_id, self._requirement_name(q.type_id), q.integer_value, None)
                for q in self.qualifications.values() if q.worker_id == worker_id and q.status == "Granted"
            ]
            qualifications.append((requirements.LOCALE, "Worker_Locale", None, worker.locale_country + (f"-{worker.locale_subdivision}" if worker.locale_subdivision else "")))
            if worker.masters:
                qualifications.append((requirements.MASTERS, "Masters", 1, None))
            messages = [MessageView(m["subject"], m["body"], datetime.fromisoformat(m["sent_at"])) for m in worker.messages]
            return DashboardView(
                earnings_cents=earnings, bonus_cents=bonus, pending_cents=pending,
                submitted=counts["Submitted"] + decided, approved=counts["Approved"], rejected=counts["Rejected"],
                approval_rate=100.0 if decided == 0 else counts["Approved"] * 100.0 / decided,
                messages=sorted(messages, key=lambda m: m.sent_at, reverse=True),
                qualifications=qualifications, blocked=worker.blocked,
            )

    def _request_status(self, type_id: str, worker_id: str) -> str:
        qualification = self.qualifications.get(f"{type_id}:{worker_id}")
        if qualification is not None:
            return qualification.status
        requests = sorted(
            (r for r in self.qualification_requests.values() if r.type_id == type_id and r.worker_id == worker_id),
            key=lambda r: r.submitted_at,
        )
        return requests[-1].status if requests else "NotRequested"

    def list_requestable_qualifications(self, worker_id: str) -> list[QualificationTypeView]:
        with self._transaction():
            self._get_worker(worker_id)
            return [
                QualificationTypeView(
                    id=t.id, name=t.name, description=t.description, has_test=t.test is not None, test_xml=t.test,
                    test_duration_seconds=t.test_duration_seconds, auto_granted=t.auto_granted,
                    status=self._request_status(t.id, worker_id),
                )
                for t in sorted(self.qualification_types.values(), key=lambda t: t.name)
                if not t.deleted and t.status == "Active"
            ]

    def request_qualification(self, worker_id: str, qualification_type_id: str, test_answer_xml: str | None) -> None:
        with self._transaction() as now:
            worker = self._get_worker(worker_id)
            qualification_type = self._get_qualification_type(qualification_type_id)
            if qualification_type.status != "Active":
                raise InvalidState("AWS.MechanicalTurk.QualificationTypeNotActive", f"QualificationType {qualification_type.id} is not active.")
            held = self.qualifications.get(f"{qualification_type.id}:{worker.id}")
            if held is not None and held.status == "Granted":
                raise InvalidState("AWS.MechanicalTurk.QualificationAlreadyExists", f"You already hold {qualification_type.name}.")
            previous = [r for r in self.qualification_requests.values() if r.type_id == qualification_type.id and r.worker_id == worker.id]
            if any(r.status == "Pending" for r in previous):
                raise InvalidState("AWS.MechanicalTurk.QualificationRequestPending", f"Your request for {qualification_type.name} is pending.")
            if previous or held is not None:
                last = max((r.decided_at or r.submitted_at) for r in previous) if previous else held.granted_at  # type: ignore[union-attr]
                delay = qualification_type.retry_delay_seconds
                if delay is None or last + timedelta(seconds=delay) > now:
                    raise InvalidState("AWS.MechanicalTurk.QualificationRetryNotAllowed", f"You cannot request {qualification_type.name} again yet.")
            if qualification_type.test is not None and test_answer_xml is None:
                raise ValidationFailed(f"{qualification_type.name} has a test; answer it to request the qualification.", "AWS.MissingParameters")
            if test_answer_xml is not None:
                questions.answers_from_xml(test_answer_xml)
            request = QualificationRequestRecord(
                id=ids.random_id(), type_id=qualification_type.id, worker_id=worker.id,
                test=qualification_type.test, answer=test_answer_xml, submitted_at=now,
            )
            if qualification_type.auto_granted:
                request.status, request.decided_at = "Approved", now
                self._grant(qualification_type.id, worker.id, qualification_type.auto_granted_value, now)
            elif qualification_type.test is not None and qualification_type.answer_key is not None:
                score = questions.score_answer_key(qualification_type.answer_key, test_answer_xml or "")
                request.status, request.decided_at = "Approved", now
                self._grant(qualification_type.id, worker.id, score, now)
            self._save(request)


OPERATIONS = frozenset(
    [
        "AcceptQualificationRequest", "ApproveAssignment", "AssociateQualificationWithWorker",
        "CreateAdditionalAssignmentsForHIT", "CreateHIT", "CreateHITType", "CreateHITWithHITType",
        "CreateQualificationType", "CreateWorkerBlock", "DeleteHIT", "DeleteQualificationType",
        "DeleteWorkerBlock", "DisassociateQualificationFromWorker", "GetAccountBalance", "GetAssignment",
        "GetFileUploadURL", "GetHIT", "GetQualificationScore", "GetQualificationType", "ListAssignmentsForHIT",
        "ListBonusPayments", "ListHITs", "ListHITsForQualificationType", "ListQualificationRequests",
        "ListQualificationTypes", "ListReviewPolicyResultsForHIT", "ListReviewableHITs", "ListWorkerBlocks",
        "ListWorkersWithQualificationType", "NotifyWorkers", "RejectAssignment", "RejectQualificationRequest",
        "SendBonus", "SendTestEventNotification", "UpdateExpirationForHIT", "UpdateHITReviewStatus",
        "UpdateHITTypeOfHIT", "UpdateNotificationSettings", "UpdateQualificationType",
    ]
)
