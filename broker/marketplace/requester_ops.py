"""The 39 requester operations of MTurk's 2017-01-17 API, as methods over plain dicts (no HTTP).

Each method is the operation's name in snake case, takes the request's parameters (wire
names, already shape-checked by protocol.py) and returns the response with datetimes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.marketplace import fees, questions, requirements
from broker.marketplace.core import (
    DEFAULT_AUTO_APPROVAL_SECONDS,
    LARGE_HIT,
    MAX_ASSIGNMENTS,
    OVERRIDE_WINDOW,
    SECONDS_30,
    SECONDS_30_DAYS,
    SECONDS_365_DAYS,
    TEXT_LIMITS,
    Event,
    MarketplaceCore,
    as_utc,
)
from broker.marketplace.errors import InvalidState, NotFound, RequestError, ValidationFailed
from broker.marketplace.notifications import NotificationFailed, validate_specification
from broker.marketplace.paging import paginate, paginate_sorted
from broker.marketplace.records import (
    AssignmentRecord,
    BonusRecord,
    HITRecord,
    HITTypeRecord,
    QualificationRecord,
    QualificationRequestRecord,
    QualificationTypeRecord,
)


class RequesterOperations(MarketplaceCore):
    """What a requester's boto3 client can do."""

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
        duration = self._check_range(
            "AssignmentDurationInSeconds", int(params["AssignmentDurationInSeconds"]), SECONDS_30, SECONDS_365_DAYS
        )
        auto_approval = self._check_range(
            "AutoApprovalDelayInSeconds",
            int(params.get("AutoApprovalDelayInSeconds", DEFAULT_AUTO_APPROVAL_SECONDS)),
            0,
            SECONDS_30_DAYS,
        )
        qualification_requirements = [dict(r) for r in params.get("QualificationRequirements") or []]
        requirements.validate_requirements(qualification_requirements, self._known_qualification_type_ids())
        candidate = HITTypeRecord(
            id=self.ids.random_id(),
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
                    f"{policy} is not supported by this marketplace; "
                    "review assignments with ApproveAssignment/RejectAssignment.",
                )
        if params.get("HITLayoutId") or params.get("HITLayoutParameters"):
            raise RequestError(
                "AWS.MechanicalTurk.HITLayoutNotSupported",
                "HIT layouts are not supported by this marketplace; pass the Question parameter.",
            )
        self._check_text(params)
        lifetime = self._check_range(
            "LifetimeInSeconds", int(params["LifetimeInSeconds"]), SECONDS_30, SECONDS_365_DAYS
        )
        max_assignments = self._check_range("MaxAssignments", int(params.get("MaxAssignments", 1)), 1, MAX_ASSIGNMENTS)
        if not params.get("Question"):
            raise ValidationFailed("Question is required.", "AWS.MissingParameters")
        parsed = questions.parse_question(params["Question"])
        token = params.get("UniqueRequestToken")
        self._check_token(
            "CreateHIT",
            token,
            now,
            lambda hit_id: RequestError(
                "AWS.MechanicalTurk.HitAlreadyExists",
                f"There is already a HIT which exists with the same UniqueRequestToken {token!r}. HITId: {hit_id}",
            ),
        )
        hit = HITRecord(
            id=self.ids.random_id(),
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
    def _hit_shape(self, hit: HITRecord, now: datetime, *, relisted: bool = False) -> dict[str, Any]:
        """The HIT as MTurk returns it; `relisted`: a Reviewable HIT, listed again at every
        ListReviewableHITs until it is marked, whose Question keeps its JSON form meanwhile."""
        hit_type = self.hit_types[hit.hit_type_id]
        counts = self._hit_counts(hit)
        shape: dict[str, Any] = {
            "HITId": hit.id,
            "HITTypeId": hit.hit_type_id,
            "HITGroupId": hit.hit_type_id,
            "CreationTime": hit.created_at,
            "Title": hit_type.title,
            "Description": hit_type.description,
            "Question": self._wire_question(hit) if relisted else hit.question,
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
            "CreationTime": datetime(2017, 1, 17, tzinfo=UTC),
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

            def listed(key: tuple[str, str]) -> HITRecord | None:
                hit = self.hits[key[1]]
                return None if hit.disposed else hit

            page, token = paginate_sorted(self._hit_order[None], listed, params)
            return {"NumResults": len(page), "HITs": [self._hit_shape(h, now) for h in page], **token}

    def list_reviewable_hits(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            wanted = params.get("Status", "Reviewable")
            type_id = params.get("HITTypeId")
            if type_id is not None:
                self._get_hit_type(type_id)

            def listed(key: tuple[str, str]) -> HITRecord | None:
                hit = self.hits[key[1]]
                return hit if self._hit_status(hit, now) == wanted else None

            page, token = paginate_sorted(self._hit_order.get(type_id, []), listed, params)
            shapes = [self._hit_shape(h, now, relisted=wanted == "Reviewable") for h in page]
            return {"NumResults": len(page), "HITs": shapes, **token}

    def update_expiration_for_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            hit = self._get_hit(params["HITId"])
            if hit.disposed:
                raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} has been deleted.")
            expire_at = as_utc(params["ExpireAt"])
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
                    raise InvalidState(
                        "AWS.MechanicalTurk.InvalidHITState",
                        f"Hit {hit.id} is {status}; only a Reviewing HIT can be reverted to Reviewable.",
                    )
                hit.reviewing = False
            else:
                if status != "Reviewable":
                    raise InvalidState(
                        "AWS.MechanicalTurk.InvalidHITState",
                        f"Hit {hit.id} is {status}; only a Reviewable HIT can be set to Reviewing.",
                    )
                hit.reviewing = True
            self._record_status(hit, self._hit_status(hit, now))
            return {}

    def update_hit_type_of_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            hit = self._get_hit(params["HITId"])
            new_type = self._get_hit_type(params["HITTypeId"])
            if hit.disposed:
                raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} has been deleted.")
            old_type_id = hit.hit_type_id
            if old_type_id != new_type.id:
                self._move_hit_order(hit, new_type.id)
                if self._assignable_by_type[old_type_id].pop(hit.id, 0) is None:
                    self._assignable_by_type[new_type.id][hit.id] = None
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
                    f"This HIT is currently in the state '{status}'. "
                    "This operation can be called with a status of: Reviewable, Reviewing",
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
            extra = self._check_range(
                "NumberOfAdditionalAssignments", int(params["NumberOfAdditionalAssignments"]), 1, MAX_ASSIGNMENTS
            )
            if hit.disposed:
                raise InvalidState("AWS.MechanicalTurk.InvalidHITState", f"Hit {hit.id} has been deleted.")
            token = params.get("UniqueRequestToken")
            self._check_token(
                f"CreateAdditionalAssignmentsForHIT:{hit.id}",
                token,
                now,
                lambda _: RequestError(
                    "AWS.MechanicalTurk.ExtendAlreadyExists",
                    f"The extend HIT request with UniqueRequestToken {token!r} was already processed for HIT {hit.id}.",
                ),
            )
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
                raise NotFound("Assignment", f"Assignment {assignment.id} does not exist (it has not been submitted).")
            hit = self.hits[assignment.hit_id]
            return {"Assignment": self._assignment_shape(assignment), "HIT": self._hit_shape(hit, now)}

    def approve_assignment(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as now:
            assignment = self._get_assignment(params["AssignmentId"])
            feedback = params.get("RequesterFeedback")
            if feedback is not None and len(feedback) > 1024:
                raise ValidationFailed("RequesterFeedback is longer than 1024 characters.")
            if assignment.status == "Rejected" and params.get("OverrideRejection"):
                hit = self.hits[assignment.hit_id]
                if hit.disposed:
                    raise InvalidState(
                        "AWS.MechanicalTurk.InvalidAssignmentState",
                        f"Assignment {assignment.id}'s HIT has been deleted; "
                        "the rejection can no longer be overridden.",
                    )
                if assignment.submit_time is None or assignment.submit_time + OVERRIDE_WINDOW < now:
                    raise InvalidState(
                        "AWS.MechanicalTurk.InvalidAssignmentState",
                        f"Assignment {assignment.id} was submitted more than 30 days ago; "
                        "the rejection can no longer be overridden.",
                    )
            elif assignment.status != "Submitted":
                raise InvalidState(
                    "AWS.MechanicalTurk.InvalidAssignmentState",
                    "This operation can be called with a status of: Submitted "
                    f"(assignment {assignment.id} is {assignment.status}).",
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
                    "This operation can be called with a status of: Submitted "
                    f"(assignment {assignment.id} is {assignment.status}).",
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
                raise RequestError(
                    "AWS.MechanicalTurk.InvalidParameterValue",
                    f"Assignment {assignment.id} was not worked by {worker_id}.",
                )
            if assignment.status not in ("Submitted", "Approved", "Rejected"):
                raise InvalidState(
                    "AWS.MechanicalTurk.InvalidAssignmentState",
                    f"Assignment {assignment.id} is {assignment.status}; a bonus needs submitted work.",
                )
            amount = self._reward_cents("BonusAmount", params["BonusAmount"])
            if amount <= 0:
                raise ValidationFailed("BonusAmount must be at least 0.01.")
            reason = params["Reason"]
            if not reason.strip():
                raise ValidationFailed("Reason must not be empty.")
            token = params.get("UniqueRequestToken")
            self._check_token(
                "SendBonus",
                token,
                now,
                lambda bonus_id: RequestError(
                    "AWS.MechanicalTurk.BonusAlreadyExists",
                    f"A bonus with UniqueRequestToken {token!r} was already granted (request {bonus_id}).",
                ),
            )
            fee = fees.bonus_fee_cents(amount)
            self._charge(amount, fee)
            account = self.account
            account.bonuses_paid_cents += amount
            self._save(account)
            bonus = BonusRecord(
                id=self.ids.random_id(),
                worker_id=worker_id,
                assignment_id=assignment.id,
                hit_id=assignment.hit_id,
                amount_cents=amount,
                fee_cents=fee,
                reason=reason,
                granted_at=now,
                unique_request_token=token,
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
                b
                for b in self.bonuses.values()
                if (hit_id and b.hit_id == hit_id) or (assignment_id and b.assignment_id == assignment_id)
            ]
            page, token = paginate(bonuses, lambda b: (b.granted_at.isoformat(), b.id), params)
            payments = [
                {
                    "WorkerId": b.worker_id,
                    "BonusAmount": fees.format_usd(b.amount_cents),
                    "AssignmentId": b.assignment_id,
                    "Reason": b.reason,
                    "GrantTime": b.granted_at,
                }
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
            return {
                "NumResults": len(page),
                "WorkerBlocks": [{"WorkerId": w.id, "Reason": w.block_reason or ""} for w in page],
                **token,
            }

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
                    failures.append(
                        {
                            "NotifyWorkersFailureCode": "HardFailure",
                            "NotifyWorkersFailureMessage": (
                                f"Cannot send a message to {worker_id}: the worker has not worked for you."
                            ),
                            "WorkerId": worker_id,
                        }
                    )
                    continue
                worker.messages.append({"subject": subject, "body": text, "sent_at": now.isoformat()})
                self._save(worker)
            return {"NotifyWorkersFailureStatuses": failures}

    # ---- qualification types
    def _validate_test(
        self, test: str | None, answer_key: str | None, duration: int | None, auto_granted: bool
    ) -> None:
        if test is None:
            if answer_key is not None:
                raise ValidationFailed("AnswerKey requires a Test.")
            return
        if auto_granted:
            raise ValidationFailed("A QualificationType with a Test cannot be AutoGranted.")
        if duration is None:
            raise ValidationFailed("TestDurationInSeconds is required with a Test.", "AWS.MissingParameters")
        questions.parse_question_form(test, "Test")
        if answer_key is not None:
            questions.score_answer_key(answer_key, "<QuestionFormAnswers/>")  # parses and checks the key

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
            self._validate_test(
                params.get("Test"), params.get("AnswerKey"), params.get("TestDurationInSeconds"), auto_granted
            )
            qualification_type = QualificationTypeRecord(
                id=self.ids.random_id(),
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
                shapes += [
                    self._system_qualification_type_shape(type_id) for type_id in requirements.SYSTEM_QUALIFICATIONS
                ]
            shapes = [
                s
                for s in shapes
                if (not must_be_requestable or s["IsRequestable"])
                and (
                    not query
                    or query in s["Name"].lower()
                    or query in s["Description"].lower()
                    or query in (s.get("Keywords") or "").lower()
                )
            ]
            page, token = paginate(shapes, lambda s: (s["Name"], s["QualificationTypeId"]), params)
            return {"NumResults": len(page), "QualificationTypes": page, **token}

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
                raise NotFound("Qualification", "You requested a Qualification that does not exist.")
            qualification.status = "Revoked"
            self._save(qualification)
            return {}

    def get_qualification_score(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            qualification_type = self._get_qualification_type(params["QualificationTypeId"])
            qualification = self.qualifications.get(f"{qualification_type.id}:{params['WorkerId']}")
            if qualification is None:
                # MTurk's own wording: clients match the message's start to tell "not granted" apart.
                raise NotFound("Qualification", "You requested a Qualification that does not exist.")
            return {"Qualification": self._qualification_shape(qualification)}

    def list_workers_with_qualification_type(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            qualification_type = self._get_qualification_type(params["QualificationTypeId"])
            status = params.get("Status")
            held = [
                q
                for q in self.qualifications.values()
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
                h
                for h in self.hits.values()
                if not h.disposed
                and any(
                    r["QualificationTypeId"] == type_id
                    for r in self.hit_types[h.hit_type_id].qualification_requirements
                )
            ]
            page, token = paginate(hits, lambda h: (h.created_at.isoformat(), h.id), params)
            return {"NumResults": len(page), "HITs": [self._hit_shape(h, now) for h in page], **token}

    def list_qualification_requests(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            type_id = params.get("QualificationTypeId")
            if type_id:
                self._get_qualification_type(type_id)
            pending = [
                r
                for r in self.qualification_requests.values()
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
            raise NotFound("QualificationRequest", f"QualificationRequest {request_id} does not exist.")
        if request.status != "Pending":
            raise InvalidState(
                "AWS.MechanicalTurk.InvalidQualificationRequestState",
                f"QualificationRequest {request_id} is already {request.status}.",
            )
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
                    raise InvalidState(
                        "AWS.MechanicalTurk.NotificationNotConfigured",
                        f"HITType {hit_type.id} has no notification specification to activate.",
                    )
                hit_type.notification_active = bool(params["Active"])
            self._save(hit_type)
            return {}

    def send_test_event_notification(self, params: dict[str, Any]) -> dict[str, Any]:
        specification = params["Notification"]
        validate_specification(specification, allow_ping=True)
        with self._transaction() as now:
            event = Event(
                params["TestEventType"],
                now,
                "TESTHITTYPE" + self.ids.random_id(19),
                self.ids.random_id(),
                self.ids.random_id(),
            )
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
                raise NotFound("Assignment", f"Assignment {assignment.id} has no answer.")
            keys = questions.answers_from_xml(assignment.answer).get(identifier)
            if not keys or "<UploadedFileKey>" not in assignment.answer:
                raise ValidationFailed(
                    f"Assignment {assignment.id} has no uploaded file for question {identifier}.",
                    "AWS.MechanicalTurk.InvalidParameterValue",
                )
            base = (self.public_url or "").rstrip("/")
            return {"FileUploadURL": f"{base}/uploads/{assignment.id}/{keys[0]}"}

    def list_review_policy_results_for_hit(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._transaction():
            hit = self._get_hit(params["HITId"])
            return {"HITId": hit.id}
