"""The marketplace's state and MTurk's rules, in plain Python (no HTTP).

`Marketplace` = the core (records, SQLite transactions, lazy time-driven rules; core.py)
+ the 39 requester operations (requester_ops.py) + the worker-facing methods (worker_ops.py)
+ private work teams and their invites (team_ops.py).
`dispatch(operation, params)` runs a requester operation by its API name.
"""

from __future__ import annotations

import re
from typing import Any

from broker.marketplace.core import Event, MarketplaceCore, Notifier
from broker.marketplace.errors import RequestError
from broker.marketplace.requester_ops import RequesterOperations
from broker.marketplace.team_ops import TeamOperations
from broker.marketplace.worker_ops import WorkerOperations

__all__ = ["Event", "Marketplace", "MarketplaceCore", "Notifier", "OPERATIONS", "method_name"]


def method_name(operation: str) -> str:
    """'ListReviewableHITs' -> 'list_reviewable_hits' (the Marketplace method for an operation)."""
    words = operation.replace("HITs", "Hits").replace("HIT", "Hit").replace("URL", "Url")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", words).lower()


class Marketplace(RequesterOperations, WorkerOperations, TeamOperations):
    """Every MTurk rule of the embedded marketplace; thread-safe (one lock around each call)."""

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one requester operation by its API name."""
        handler = getattr(self, method_name(operation), None)
        if handler is None or operation not in OPERATIONS:
            raise RequestError("AWS.MechanicalTurk.UnknownOperation", f"Unknown operation {operation}.")
        return handler(params)


OPERATIONS = frozenset(
    [
        "AcceptQualificationRequest",
        "ApproveAssignment",
        "AssociateQualificationWithWorker",
        "CreateAdditionalAssignmentsForHIT",
        "CreateHIT",
        "CreateHITType",
        "CreateHITWithHITType",
        "CreateQualificationType",
        "CreateWorkerBlock",
        "DeleteHIT",
        "DeleteQualificationType",
        "DeleteWorkerBlock",
        "DisassociateQualificationFromWorker",
        "GetAccountBalance",
        "GetAssignment",
        "GetFileUploadURL",
        "GetHIT",
        "GetQualificationScore",
        "GetQualificationType",
        "ListAssignmentsForHIT",
        "ListBonusPayments",
        "ListHITs",
        "ListHITsForQualificationType",
        "ListQualificationRequests",
        "ListQualificationTypes",
        "ListReviewPolicyResultsForHIT",
        "ListReviewableHITs",
        "ListWorkerBlocks",
        "ListWorkersWithQualificationType",
        "NotifyWorkers",
        "RejectAssignment",
        "RejectQualificationRequest",
        "SendBonus",
        "SendTestEventNotification",
        "UpdateExpirationForHIT",
        "UpdateHITReviewStatus",
        "UpdateHITTypeOfHIT",
        "UpdateNotificationSettings",
        "UpdateQualificationType",
    ]
)
