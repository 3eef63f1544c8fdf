"""What the worker site needs: accounts, HIT groups, preview, accept, return, submit, dashboards,
qualification requests; with MTurk's qualification, block and one-assignment-per-worker rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from broker.marketplace import questions, requirements
from broker.marketplace.core import ACTIVE_STATUSES, MarketplaceCore
from broker.marketplace.errors import InvalidState, NotFound, NotQualified, ValidationFailed
from broker.marketplace.records import (
    AssignmentRecord,
    HITTypeRecord,
    QualificationRequestRecord,
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


class WorkerOperations(MarketplaceCore):
    """The worker-facing contract used by broker.marketplace.worker_site."""

    def register_worker(self, worker_id: str | None = None) -> str:
        """A new worker account (or an existing id made known); returns the WorkerId."""
        with self._transaction() as now:
            if worker_id is not None:
                if not (
                    worker_id.startswith("A") and worker_id.isalnum() and worker_id.isupper() and len(worker_id) <= 64
                ):
                    raise ValidationFailed(
                        f"WorkerId {worker_id!r} must be 'A' followed by upper-case letters and digits."
                    )
                self._ensure_worker(worker_id, now)
                return worker_id
            new_id = self.ids.worker_id()
            while new_id in self.workers:
                new_id = self.ids.worker_id()
            self._ensure_worker(new_id, now)
            return new_id

    def set_worker_stats(
        self, worker_id: str, approved: int | None = None, submitted: int | None = None, masters: bool | None = None
    ) -> None:
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
        return [
            r for r in guarding if not requirements.requirement_met(r, self._held(worker, r["QualificationTypeId"]))
        ]

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

    def _has_worked(self, worker_id: str, hit_id: str) -> bool:
        """The worker holds or has submitted an assignment of the HIT (returned and abandoned ones may
        be taken again). Read from the HIT's few assignments, not the worker's whole history."""
        assignments = self.assignments
        return any(
            assignments[a].worker_id == worker_id and assignments[a].status in ACTIVE_STATUSES
            for a in self._assignments_by_hit.get(hit_id, ())
        )

    def list_hit_groups(self, worker_id: str | None) -> list[HitGroupView]:
        with self._transaction():
            worker = self._worker_or_none(worker_id)
            groups = []
            for hit_type_id, assignable in self._assignable_by_type.items():
                hit_type = self.hit_types[hit_type_id]
                available = len(assignable)
                if available == 0 or self._unmet(hit_type, worker, "Discover"):
                    continue  # nothing to do, or hidden from this worker (anonymous: every Discover guard)
                views = [
                    RequirementView(
                        qualification_type_id=r["QualificationTypeId"],
                        name=self._requirement_name(r["QualificationTypeId"]),
                        comparator=r["Comparator"],
                        values=requirements.describe_values(r),
                        met=None
                        if worker is None
                        else requirements.requirement_met(r, self._held(worker, r["QualificationTypeId"])),
                    )
                    for r in hit_type.qualification_requirements
                ]
                groups.append(
                    HitGroupView(
                        hit_type_id=hit_type.id,
                        title=hit_type.title,
                        description=hit_type.description,
                        keywords=hit_type.keywords,
                        reward_cents=hit_type.reward_cents,
                        assignment_duration_seconds=hit_type.assignment_duration_seconds,
                        hits_available=available,
                        requester_name=self.config.requester_name,
                        qualified=worker is not None and not self._unmet(hit_type, worker, "Accept"),
                        blocked=bool(worker and worker.blocked),
                        requirements=views,
                    )
                )
            groups.sort(key=lambda g: (-g.hits_available, g.title, g.hit_type_id))
            return groups

    def next_hit_for_worker(self, hit_type_id: str, worker_id: str | None) -> str | None:
        with self._transaction() as now:
            self._get_hit_type(hit_type_id)
            for hit_id in self._assignable_by_type.get(hit_type_id, {}):
                if worker_id and self._has_worked(worker_id, hit_id):
                    continue
                if self._hit_status(self.hits[hit_id], now) == "Assignable":
                    return hit_id
            return None

    def preview_hit(self, hit_id: str, worker_id: str | None) -> HitView:
        with self._transaction() as now:
            hit = self._get_hit(hit_id)
            if hit.disposed:
                raise NotFound("HIT", f"Hit {hit_id} does not exist.")
            hit_type = self.hit_types[hit.hit_type_id]
            self._check_worker_may(hit_type, self._worker_or_none(worker_id), "Preview")
            parsed = questions.parse_question(hit.question)
            return HitView(
                hit_id=hit.id,
                hit_type_id=hit_type.id,
                title=hit_type.title,
                description=hit_type.description,
                reward_cents=hit_type.reward_cents,
                assignment_duration_seconds=hit_type.assignment_duration_seconds,
                question_kind=parsed.kind,
                html_content=parsed.html_content,
                external_url=parsed.external_url,
                frame_height=parsed.frame_height,
                question_xml=hit.question,
                expires_at=hit.expiration,
                available_assignments=self._hit_counts(hit)["available"]
                if self._hit_status(hit, now) == "Assignable"
                else 0,
            )

    def accept_hit(self, hit_id: str, worker_id: str) -> str:
        with self._transaction() as now:
            worker = self._get_worker(worker_id)
            hit = self._get_hit(hit_id)
            hit_type = self.hit_types[hit.hit_type_id]
            status = self._hit_status(hit, now)
            if status != "Assignable":
                raise InvalidState(
                    "AWS.MechanicalTurk.HITNotAssignable", f"Hit {hit.id} is {status} and cannot be accepted."
                )
            self._check_worker_may(hit_type, worker, "Accept")
            if self._has_worked(worker.id, hit.id):
                raise InvalidState(
                    "AWS.MechanicalTurk.AssignmentAlreadyExists",
                    f"Worker {worker.id} has already worked on Hit {hit.id}.",
                )
            assignment = AssignmentRecord(
                id=self.ids.random_id(),
                hit_id=hit.id,
                worker_id=worker.id,
                status="Accepted",
                accept_time=now,
                deadline=now + timedelta(seconds=hit_type.assignment_duration_seconds),
                reward_cents=hit_type.reward_cents,
            )
            self._save(assignment, new=True)
            self._emit("AssignmentAccepted", hit, assignment, now)
            self._refresh_hit(hit, now)
            return assignment.id

    def _worker_assignment(self, assignment_id: str, worker_id: str) -> AssignmentRecord:
        assignment = self.assignments.get(assignment_id)
        if assignment is None or assignment.worker_id != worker_id:
            raise NotFound("Assignment", f"Assignment {assignment_id} does not exist for worker {worker_id}.")
        return assignment

    def return_assignment(self, assignment_id: str, worker_id: str) -> None:
        with self._transaction() as now:
            assignment = self._worker_assignment(assignment_id, worker_id)
            if assignment.status != "Accepted":
                raise InvalidState(
                    "AWS.MechanicalTurk.InvalidAssignmentState",
                    f"Assignment {assignment.id} is {assignment.status} and cannot be returned.",
                )
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
            assignment_id=assignment.id,
            hit_id=assignment.hit_id,
            hit_type_id=self.hits[assignment.hit_id].hit_type_id,
            status=assignment.status,
            accept_time=assignment.accept_time,
            deadline=assignment.deadline,
            submit_time=assignment.submit_time,
            reward_cents=assignment.reward_cents,
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
                for q in self.qualifications.values()
                if q.worker_id == worker_id and q.status == "Granted"
            ]
            qualifications.append(
                (
                    requirements.LOCALE,
                    "Worker_Locale",
                    None,
                    worker.locale_country + (f"-{worker.locale_subdivision}" if worker.locale_subdivision else ""),
                )
            )
            if worker.masters:
                qualifications.append((requirements.MASTERS, "Masters", 1, None))
            messages = [
                MessageView(m["subject"], m["body"], datetime.fromisoformat(m["sent_at"])) for m in worker.messages
            ]
            return DashboardView(
                earnings_cents=earnings,
                bonus_cents=bonus,
                pending_cents=pending,
                submitted=counts["Submitted"] + decided,
                approved=counts["Approved"],
                rejected=counts["Rejected"],
                approval_rate=100.0 if decided == 0 else counts["Approved"] * 100.0 / decided,
                messages=sorted(messages, key=lambda m: m.sent_at, reverse=True),
                qualifications=qualifications,
                blocked=worker.blocked,
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
                    id=t.id,
                    name=t.name,
                    description=t.description,
                    has_test=t.test is not None,
                    test_xml=t.test,
                    test_duration_seconds=t.test_duration_seconds,
                    auto_granted=t.auto_granted,
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
                raise InvalidState(
                    "AWS.MechanicalTurk.QualificationTypeNotActive",
                    f"QualificationType {qualification_type.id} is not active.",
                )
            held = self.qualifications.get(f"{qualification_type.id}:{worker.id}")
            if held is not None and held.status == "Granted":
                raise InvalidState(
                    "AWS.MechanicalTurk.QualificationAlreadyExists", f"You already hold {qualification_type.name}."
                )
            previous = [
                r
                for r in self.qualification_requests.values()
                if r.type_id == qualification_type.id and r.worker_id == worker.id
            ]
            if any(r.status == "Pending" for r in previous):
                raise InvalidState(
                    "AWS.MechanicalTurk.QualificationRequestPending",
                    f"Your request for {qualification_type.name} is pending.",
                )
            if previous or held is not None:
                last = max((r.decided_at or r.submitted_at) for r in previous) if previous else held.granted_at  # type: ignore[union-attr]
                delay = qualification_type.retry_delay_seconds
                if delay is None or last + timedelta(seconds=delay) > now:
                    raise InvalidState(
                        "AWS.MechanicalTurk.QualificationRetryNotAllowed",
                        f"You cannot request {qualification_type.name} again yet.",
                    )
            if qualification_type.test is not None and test_answer_xml is None:
                raise ValidationFailed(
                    f"{qualification_type.name} has a test; answer it to request the qualification.",
                    "AWS.MissingParameters",
                )
            if test_answer_xml is not None:
                questions.answers_from_xml(test_answer_xml)
            request = QualificationRequestRecord(
                id=self.ids.random_id(),
                type_id=qualification_type.id,
                worker_id=worker.id,
                test=qualification_type.test,
                answer=test_answer_xml,
                submitted_at=now,
            )
            if qualification_type.auto_granted:
                request.status, request.decided_at = "Approved", now
                self._grant(qualification_type.id, worker.id, qualification_type.auto_granted_value, now)
            elif qualification_type.test is not None and qualification_type.answer_key is not None:
                score = questions.score_answer_key(qualification_type.answer_key, test_answer_xml or "")
                request.status, request.decided_at = "Approved", now
                self._grant(qualification_type.id, worker.id, score, now)
            self._save(request)
