"""The marketplace's persistent records: plain pydantic models, no behaviour.

Each kind maps to one `kind` in the store; `id` is the primary key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field


class Record(BaseModel):
    kind: ClassVar[str]
    id: str


class HITTypeRecord(Record):
    kind: ClassVar[str] = "hit_type"
    title: str
    description: str
    keywords: str = ""
    reward_cents: int
    assignment_duration_seconds: int
    auto_approval_delay_seconds: int
    qualification_requirements: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime
    notification: dict[str, Any] | None = None
    notification_active: bool = False


class HITRecord(Record):
    kind: ClassVar[str] = "hit"
    hit_type_id: str
    created_at: datetime
    expiration: datetime
    max_assignments: int
    question: str
    question_kind: str
    requester_annotation: str | None = None
    hit_layout_id: str | None = None
    unique_request_token: str | None = None
    review_status: str = "NotReviewed"
    reviewing: bool = False
    disposed: bool = False
    expired_notified: bool = False
    last_status: str = "Assignable"


class AssignmentRecord(Record):
    kind: ClassVar[str] = "assignment"
    hit_id: str
    worker_id: str
    status: str  # Accepted | Submitted | Approved | Rejected | Returned | Abandoned
    accept_time: datetime
    deadline: datetime
    reward_cents: int
    submit_time: datetime | None = None
    auto_approval_time: datetime | None = None
    approval_time: datetime | None = None
    rejection_time: datetime | None = None
    return_time: datetime | None = None
    answer: str | None = None
    requester_feedback: str | None = None
    fee_cents: int = 0


class WorkerRecord(Record):
    kind: ClassVar[str] = "worker"
    created_at: datetime
    locale_country: str = "US"
    locale_subdivision: str | None = None
    historic_approved: int = 0
    historic_submitted: int = 0
    masters: bool = False
    blocked: bool = False
    block_reason: str | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)


class QualificationTypeRecord(Record):
    kind: ClassVar[str] = "qualification_type"
    name: str
    description: str
    keywords: str | None = None
    status: str = "Active"
    retry_delay_seconds: int | None = None
    test: str | None = None
    answer_key: str | None = None
    test_duration_seconds: int | None = None
    auto_granted: bool = False
    auto_granted_value: int | None = None
    created_at: datetime
    deleted: bool = False


class QualificationRecord(Record):
    """A qualification held by a worker; id is '<type id>:<worker id>'."""

    kind: ClassVar[str] = "qualification"
    type_id: str
    worker_id: str
    integer_value: int | None = None
    locale_country: str | None = None
    locale_subdivision: str | None = None
    granted_at: datetime
    status: str = "Granted"  # Granted | Revoked


class QualificationRequestRecord(Record):
    kind: ClassVar[str] = "qualification_request"
    type_id: str
    worker_id: str
    test: str | None = None
    answer: str | None = None
    submitted_at: datetime
    status: str = "Pending"  # Pending | Approved | Rejected
    decided_at: datetime | None = None
    reason: str | None = None


class BonusRecord(Record):
    kind: ClassVar[str] = "bonus"
    worker_id: str
    assignment_id: str
    hit_id: str
    amount_cents: int
    fee_cents: int
    reason: str
    granted_at: datetime
    unique_request_token: str | None = None


class TokenRecord(Record):
    """A UniqueRequestToken seen in the last 24 h; id is '<operation>:<token>'."""

    kind: ClassVar[str] = "token"
    result_id: str
    created_at: datetime


class AccountRecord(Record):
    kind: ClassVar[str] = "account"
    balance_cents: int
    fees_paid_cents: int = 0
    rewards_paid_cents: int = 0
    bonuses_paid_cents: int = 0


class TeamRecord(Record):
    """A private work team: its members hold its qualification type (id is the team's name)."""

    kind: ClassVar[str] = "team"
    qualification_type_id: str
    created_at: datetime


class TeamInviteRecord(Record):
    """An invite to a team; only a digest of its code is kept."""

    kind: ClassVar[str] = "team_invite"
    team: str
    code_digest: str
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int = 0
    revoked: bool = False


RECORD_TYPES: tuple[type[Record], ...] = (
    HITTypeRecord,
    HITRecord,
    AssignmentRecord,
    WorkerRecord,
    QualificationTypeRecord,
    QualificationRecord,
    QualificationRequestRecord,
    BonusRecord,
    TokenRecord,
    AccountRecord,
    TeamRecord,
    TeamInviteRecord,
)
