"""Read-only views the worker site renders (plain dataclasses; the contract in market_iface)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RequirementView:
    qualification_type_id: str
    name: str
    comparator: str
    values: str
    met: bool | None


@dataclass(frozen=True)
class HitGroupView:
    hit_type_id: str
    title: str
    description: str
    keywords: str
    reward_cents: int
    assignment_duration_seconds: int
    hits_available: int
    requester_name: str
    qualified: bool
    blocked: bool
    requirements: list[RequirementView] = field(default_factory=list)


@dataclass(frozen=True)
class HitView:
    hit_id: str
    hit_type_id: str
    title: str
    description: str
    reward_cents: int
    assignment_duration_seconds: int
    question_kind: str
    html_content: str | None
    external_url: str | None
    frame_height: int | None
    question_xml: str
    expires_at: datetime
    available_assignments: int


@dataclass(frozen=True)
class WorkerAssignmentView:
    assignment_id: str
    hit_id: str
    hit_type_id: str
    status: str
    accept_time: datetime
    deadline: datetime
    submit_time: datetime | None
    reward_cents: int


@dataclass(frozen=True)
class MessageView:
    subject: str
    body: str
    sent_at: datetime


@dataclass(frozen=True)
class DashboardView:
    earnings_cents: int
    bonus_cents: int
    pending_cents: int
    submitted: int
    approved: int
    rejected: int
    approval_rate: float
    messages: list[MessageView]
    qualifications: list[tuple[str, str, int | None, str | None]]
    blocked: bool


@dataclass(frozen=True)
class QualificationTypeView:
    id: str
    name: str
    description: str
    has_test: bool
    test_xml: str | None
    test_duration_seconds: int | None
    auto_granted: bool
    status: str  # "Granted" | "Pending" | "Rejected" | "Revoked" | "NotRequested"
